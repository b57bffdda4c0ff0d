import Broker
import Common
import Logging
import NameServer
import Remoting

#if canImport(Glibc)
    import Glibc
#endif

/// A new, empty directory of its own under /tmp.
func makeTemporaryDirectory(_ prefix: String) throws -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard made != nil else { throw TemporaryDirectoryError(errno: errno) }
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

struct TemporaryDirectoryError: Error { var errno: Int32 }

/// A NameServer and brokers as real NIO servers on 127.0.0.1 in this process, each broker with
/// its own temporary store.
final class LocalCluster {
    let nameServer: NameServerController
    let namesrvAddr: String
    var brokers: [BrokerController] = []
    var services: [Task<Void, Never>] = []
    let root: String
    static let logger = Logger(label: "client-tests")

    init(brokerNames: [String] = ["broker-a"], overrides: [String: String] = [:]) async throws {
        root = try makeTemporaryDirectory("client-test")
        nameServer = NameServerController(
            config: try NamesrvConfig(properties: [
                "listenPort": "0", "bindAddress": "127.0.0.1", "kvConfigPath": root + "/kv.json",
            ]), logger: Self.logger)
        namesrvAddr = "127.0.0.1:\(try await nameServer.start())"
        for name in brokerNames {
            var properties = [
                "brokerName": name, "brokerIP1": "127.0.0.1", "bindAddress": "127.0.0.1",
                "listenPort": String(Self.freePort()), "haListenPort": String(Self.freePort()),
                "namesrvAddr": namesrvAddr,
                "storePathRootDir": root + "/" + name, "mappedFileSizeCommitLog": String(8 << 20),
                "maxMessageSize": String(1 << 20), "maxHashSlotNum": "1000", "maxIndexNum": "4000",
                "defaultTopicQueueNums": "4",
            ]
            properties.merge(overrides) { _, new in new }
            let broker = try BrokerController(config: try BrokerConfig(properties: properties), logger: Self.logger)
            try await broker.start()
            brokers.append(broker)
            services.append(Task { await broker.runServices() })
        }
    }

    func shutdown() async {
        for service in services {
            service.cancel()
            await service.value
        }
        for broker in brokers { await broker.shutdown() }
        await nameServer.shutdown()
        _ = system("rm -rf '\(root)'")
    }

    /// Bodies stored in a topic, across its queues, via the broker's store.
    func storedBodies(_ topic: String, broker index: Int = 0) -> [String] {
        let store = brokers[index].store
        return (0..<8).flatMap { queue -> [String] in
            let result = store.getMessage(topic: topic, queueId: Int32(queue), offset: 0, maxCount: 1000, filter: nil)
            return ((try? StoredMessageCodec.decodeAll(result.messages)) ?? []).map {
                String(decoding: $0.body, as: UTF8.self)
            }
        }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
