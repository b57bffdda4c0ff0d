import ArgumentParser
import Client
import Common
import Logging
import Remoting

#if canImport(Glibc)
    import Glibc
#endif

@main
struct MQAdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqadmin", abstract: "RocketMQ-compatible admin tool.",
        subcommands: [
            ClusterList.self, TopicList.self, TopicRoute.self, TopicStatus.self, UpdateTopic.self, DeleteTopic.self,
            BrokerStatus.self, GetBrokerConfig.self, SendMessage.self, ConsumeMessage.self, QueryMsgByKey.self,
            QueryMsgById.self, ConsumerProgress.self, ResetOffsetByTime.self, TransferLeadership.self,
        ])
}

/// `-n`, as every mqadmin command takes it (falls back to NAMESRV_ADDR).
struct NameServerOption: ParsableArguments {
    @Option(name: .customShort("n"), help: "Name server address list, e.g. '127.0.0.1:9876;127.0.0.2:9876'.")
    var namesrvAddr: String?

    func admin() throws -> MQAdmin {
        let address = namesrvAddr ?? getenv("NAMESRV_ADDR").map { String(cString: $0) }
        guard let address, !address.isEmpty else {
            throw ValidationError("no name server: pass -n host:port or set NAMESRV_ADDR")
        }
        var logger = Logger(label: "mqadmin")
        logger.logLevel = .critical
        return MQAdmin(api: MQClientAPI(namesrvAddr: address, logger: logger))
    }
}

/// Runs an admin action and turns connection failures into a clear message and exit code 1.
func withAdmin(_ option: NameServerOption, _ body: (MQAdmin) async throws -> Void) async throws {
    let admin = try option.admin()
    defer { Task { await admin.api.shutdown() } }
    do {
        try await body(admin)
    } catch let error as RemotingError {
        printError("mqadmin: cannot reach \(admin.api.namesrvAddrs.joined(separator: ";")) or a broker: \(error)")
        throw ExitCode(1)
    } catch let error as ClientError {
        printError("mqadmin: \(error)")
        throw ExitCode(1)
    }
}

func printError(_ text: String) {
    var standardError = StandardError()
    print(text, to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ text: String) {
        // File descriptor 2 directly: the C `stderr` global is not concurrency-safe in Swift 6.
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

func column(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

struct ClusterList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clusterList", abstract: "List clusters and their brokers.")
    @OptionGroup var common: NameServerOption

    func run() async throws {
        try await withAdmin(common) { admin in
            let info = try await admin.clusterInfo()
            print(
                column("#Cluster Name", 22) + column("#Broker Name", 22) + column("#BID", 6) + column("#Addr", 22)
                    + column("#Role", 14) + "#DLedger")
            for (cluster, names) in info.clusters.sorted(by: { $0.key < $1.key }) {
                for broker in info.brokers where names.contains(broker.brokerName) {
                    for (id, address) in broker.brokerAddrs.sorted(by: { $0.key < $1.key }) {
                        // Each broker says what it is; one that does not answer is shown as such.
                        let runtime: [String: String]?
                        do {
                            runtime = try await admin.brokerRuntimeInfo(address)
                        } catch {
                            runtime = nil  // a dead node stays listed until the NameServer expires it
                        }
                        let role = runtime.map { $0["brokerRole"] ?? "?" } ?? "(unreachable)"
                        let dledger =
                            runtime?["dLegerRole"].map { "\($0) term \(runtime?["dLegerTerm"] ?? "?")" } ?? "-"
                        print(
                            column(cluster, 22) + column(broker.brokerName, 22) + column(String(id), 6)
                                + column(address, 22) + column(role, 14) + dledger)
                    }
                }
            }
        }
    }
}

struct TopicList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topicList", abstract: "List every topic the name servers know.")
    @OptionGroup var common: NameServerOption

    func run() async throws {
        try await withAdmin(common) { admin in
            for topic in try await admin.topicList() { print(topic) }
        }
    }
}

struct TopicRoute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topicRoute", abstract: "Print a topic's route.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("t"), help: "Topic.") var topic: String

    func run() async throws {
        try await withAdmin(common) { admin in
            guard let route = try await admin.api.topicRoute(topic) else { throw ClientError.noRoute(topic: topic) }
            print(route.json.serialized())
        }
    }
}

struct TopicStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topicStatus", abstract: "Min/max offsets of every queue of a topic.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("t"), help: "Topic.") var topic: String

    func run() async throws {
        try await withAdmin(common) { admin in
            print(
                column("#Broker Name", 22) + column("#QID", 6) + column("#Min Offset", 14) + column("#Max Offset", 14)
                    + "#Last Updated")
            for status in try await admin.topicStatus(topic) {
                print(
                    column(status.queue.brokerName, 22) + column(String(status.queue.queueId), 6)
                        + column(String(status.minOffset), 14) + column(String(status.maxOffset), 14)
                        + String(status.lastUpdateTimestamp))
            }
        }
    }
}

struct UpdateTopic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "updateTopic",
        abstract: "Create or update a topic on a broker or a whole cluster.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("t"), help: "Topic.") var topic: String
    @Option(name: .customShort("b"), help: "Broker address (ip:port).") var brokerAddr: String?
    @Option(name: .customShort("c"), help: "Cluster name.") var clusterName: String?
    @Option(name: .customShort("r"), help: "Read queues.") var readQueueNums: Int32 = 8
    @Option(name: .customShort("w"), help: "Write queues.") var writeQueueNums: Int32 = 8
    @Option(name: .customShort("p"), help: "Permission (2 write, 4 read, 6 both).") var perm: Int32 = 6
    @Option(name: .customShort("o"), help: "Ordered topic.") var order: Bool = false

    func validate() throws {
        guard (brokerAddr == nil) != (clusterName == nil) else {
            throw ValidationError("give exactly one of -b and -c")
        }
        if let problem = SystemTopics.validate(topic) { throw ValidationError(problem) }
    }

    func run() async throws {
        try await withAdmin(common) { admin in
            let targets: [String]
            if let brokerAddr {
                targets = [brokerAddr]
            } else {
                targets = try await admin.masters(cluster: clusterName)
            }
            guard !targets.isEmpty else {
                throw ClientError.broker(code: 1, remark: "no broker in cluster \(clusterName ?? "")")
            }
            let config = TopicConfig(
                topicName: topic, readQueueNums: readQueueNums, writeQueueNums: writeQueueNums, perm: perm, order: order
            )
            try await admin.updateTopic(config, brokerAddrs: targets)
            for address in targets { print("create topic to \(address) success.") }
            print(config.json.serialized())
        }
    }
}

struct DeleteTopic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deleteTopic",
        abstract: "Delete a topic from a cluster's brokers and the name servers.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("t"), help: "Topic.") var topic: String
    @Option(name: .customShort("c"), help: "Cluster name.") var clusterName: String

    func run() async throws {
        try await withAdmin(common) { admin in
            try await admin.deleteTopic(topic, cluster: clusterName)
            print("delete topic [\(topic)] from cluster [\(clusterName)] success.")
        }
    }
}

struct TransferLeadership: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transferLeadership",
        abstract: "DLedger mode: move a broker group's leadership (its master) to another member.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("b"), help: "Broker group (brokerName).") var brokerName: String
    @Option(name: .customShort("i"), help: "The member to lead next (dLegerSelfId, e.g. n1).") var transferee: String

    func run() async throws {
        try await withAdmin(common) { admin in
            guard
                let master = try await admin.clusterInfo().brokers.first(where: { $0.brokerName == brokerName })?
                    .masterAddress
            else { throw ClientError.noRoute(topic: brokerName) }
            let newLeader = try await admin.transferLeadership(master: master, to: transferee)
            print("leadership of \(brokerName) moved from \(master) to \(transferee) (\(newLeader))")
        }
    }
}

struct BrokerStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brokerStatus", abstract: "A broker's runtime information.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("b"), help: "Broker address (ip:port).") var brokerAddr: String

    func run() async throws {
        try await withAdmin(common) { admin in
            for (key, value) in try await admin.brokerRuntimeInfo(brokerAddr).sorted(by: { $0.key < $1.key }) {
                print(column(key, 32) + ": " + value)
            }
        }
    }
}

struct GetBrokerConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "getBrokerConfig", abstract: "A broker's effective configuration.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("b"), help: "Broker address (ip:port).") var brokerAddr: String?
    @Option(name: .customShort("c"), help: "Cluster name.") var clusterName: String?

    func run() async throws {
        try await withAdmin(common) { admin in
            let targets: [String]
            if let brokerAddr {
                targets = [brokerAddr]
            } else {
                targets = try await admin.masters(cluster: clusterName)
            }
            for address in targets {
                print("============\(address)============")
                for (key, value) in try await admin.brokerConfig(address).sorted(by: { $0.key < $1.key }) {
                    print(column(key, 40) + "=  " + value)
                }
            }
        }
    }
}

struct SendMessage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sendMessage", abstract: "Send one message.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("t"), help: "Topic.") var topic: String
    @Option(name: .customShort("p"), help: "Message body.") var body: String
    @Option(name: .customShort("k"), help: "Keys (space separated).") var keys: String?
    @Option(name: .customShort("c"), help: "Tags.") var tags: String?

    func run() async throws {
        let address = common.namesrvAddr ?? getenv("NAMESRV_ADDR").map { String(cString: $0) } ?? ""
        var logger = Logger(label: "mqadmin")
        logger.logLevel = .critical
        let producer = Producer(group: "PID_MQADMIN", namesrvAddr: address, logger: logger)
        do {
            let result = try await producer.send(
                Message(
                    topic: topic, body: body, tags: tags,
                    keys: keys.map { $0.split(separator: " ").map(String.init) } ?? []))
            print(column("#Broker Name", 22) + column("#QID", 6) + column("#Send Result", 16) + "#MsgId")
            print(
                column(result.messageQueue.brokerName, 22) + column(String(result.messageQueue.queueId), 6)
                    + column("SEND_OK", 16) + result.msgId)
            print("offsetMsgId=\(result.offsetMsgId) queueOffset=\(result.queueOffset)")
        } catch {
            await producer.shutdown()
            printError("mqadmin: send failed: \(error)")
            throw ExitCode(1)
        }
        await producer.shutdown()
    }
}

struct ConsumeMessage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumeMessage", abstract: "Print messages of a topic (from every queue, or one).")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("t"), help: "Topic.") var topic: String
    @Option(name: .customShort("b"), help: "Broker name.") var brokerName: String?
    @Option(name: .customShort("i"), help: "Queue id.") var queueId: Int32?
    @Option(name: .customShort("o"), help: "Start offset.") var offset: Int64 = 0
    @Option(name: .customShort("c"), help: "At most this many messages.") var count: Int = 128

    func run() async throws {
        try await withAdmin(common) { admin in
            guard let route = try await admin.api.topicRoute(topic) else { throw ClientError.noRoute(topic: topic) }
            var printed = 0
            for queueData in route.queueDatas.sorted(by: { $0.brokerName < $1.brokerName })
            where brokerName == nil || brokerName == queueData.brokerName {
                guard
                    let address = route.brokerDatas.first(where: { $0.brokerName == queueData.brokerName })?
                        .masterAddress
                else { continue }
                for queue in 0..<queueData.readQueueNums where queueId == nil || queueId == queue {
                    var next = offset
                    while printed < count {
                        let (messages, nextOffset) = try await admin.pull(
                            address: address, topic: topic, queueId: queue, offset: next,
                            maxCount: min(32, count - printed))
                        if messages.isEmpty { break }
                        for message in messages {
                            let body = message.inflated().body
                            print(
                                "Consume ok, brokerName=\(queueData.brokerName) queueId=\(queue) queueOffset=\(message.queueOffset) "
                                    + "msgId=\(message.uniqueKey ?? message.offsetMessageId) tags=\(message.tags ?? "") "
                                    + "keys=\(message.keys.joined(separator: " ")) body=\(String(decoding: body, as: UTF8.self))"
                            )
                            printed += 1
                        }
                        next = nextOffset
                    }
                }
            }
        }
    }
}

func printMessage(_ message: MessageExt) {
    print("Topic:               \(message.topic)")
    print("Tags:                [\(message.tags ?? "")]")
    print("Keys:                [\(message.keys.joined(separator: " "))]")
    print("Queue ID:            \(message.queueId)")
    print("Queue Offset:        \(message.queueOffset)")
    print("CommitLog Offset:    \(message.commitLogOffset)")
    print("Reconsume Times:     \(message.reconsumeTimes)")
    print("Born Timestamp:      \(message.bornTimestamp)")
    print("Store Timestamp:     \(message.storeTimestamp)")
    print("Born Host:           \(message.bornHost)")
    print("Store Host:          \(message.storeHost)")
    print("System Flag:         \(message.sysFlag)")
    print(
        "Properties:          \(message.properties.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: ", "))"
    )
    print("Message Body:        \(String(decoding: message.body, as: UTF8.self))")
}

struct QueryMsgByKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queryMsgByKey", abstract: "Find messages by key.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("t"), help: "Topic.") var topic: String
    @Option(name: .customShort("k"), help: "Key.") var key: String

    func run() async throws {
        try await withAdmin(common) { admin in
            let found = try await admin.queryMessages(topic: topic, key: key, uniqueKey: false)
            print(column("#Message ID", 34) + column("#QID", 6) + "#Offset")
            for message in found {
                print(
                    column(message.uniqueKey ?? message.offsetMessageId, 34) + column(String(message.queueId), 6)
                        + String(message.queueOffset))
            }
        }
    }
}

struct QueryMsgById: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queryMsgById",
        abstract: "Show a message by id: a client message id (with -t) or a broker offset message id.")
    @OptionGroup var common: NameServerOption
    @Option(name: .customShort("i"), help: "Message id.") var msgId: String
    @Option(name: .customShort("t"), help: "Topic (needed for client message ids).") var topic: String?

    func run() async throws {
        try await withAdmin(common) { admin in
            var found: [MessageExt] = []
            if let topic { found = try await admin.queryMessages(topic: topic, key: msgId, uniqueKey: true) }
            if found.isEmpty, let viewed = try await admin.viewMessage(offsetMessageId: msgId) { found = [viewed] }
            guard !found.isEmpty else {
                printError(
                    "mqadmin: no message with id \(msgId)\(topic == nil ? " (client message ids need -t TOPIC)" : "")")
                throw ExitCode(1)
            }
            for message in found { printMessage(message) }
        }
    }
}
