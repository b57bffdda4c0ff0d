import Common
import Logging
import NIOCore
import Remoting

/// REGISTER_BROKER / UNREGISTER_BROKER with every configured NameServer (`BrokerOuterAPI`).
/// Each NameServer is independent: one being down never blocks the others.
final class NameServerRegistration: Sendable {
    let config: BrokerConfig
    let logger: Logger
    let client: RemotingClient

    init(config: BrokerConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        client = RemotingClient(maxFrameLength: config.limits.maxFrameLength, logger: logger)
    }

    var identity: [String: String] {
        [
            "brokerAddr": config.brokerAddr, "brokerId": String(config.brokerId), "brokerName": config.brokerName,
            "clusterName": config.brokerClusterName,
        ]
    }

    func registerAll(_ body: RegisterBrokerBody) async {
        let bytes = config.compressedRegister ? RegisterBrokerBodyCompression.encode(body) : body.json.serializedBytes()
        var fields = identity
        fields["haServerAddr"] = config.haServerAddr
        fields["compressed"] = String(config.compressedRegister)
        fields["bodyCrc32"] = String(CRC32.masked(bytes))
        let request = RemotingCommand.request(code: RequestCode.registerBroker, fields: fields, body: bytes)
        await forEachNameServer { address in
            let response = try await self.client.invoke(address, request, timeoutMillis: 6000)
            if response.code != ResponseCode.success {
                self.logger.warning(
                    "register broker to name server \(address) failed: \(response.code) \(response.remark ?? "")")
            }
        }
    }

    func unregisterAll() async {
        let request = RemotingCommand.request(code: RequestCode.unregisterBroker, fields: identity)
        await forEachNameServer { address in
            _ = try await self.client.invoke(address, request, timeoutMillis: 3000)
        }
    }

    private func forEachNameServer(_ body: @escaping @Sendable (String) async throws -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for address in config.namesrvAddr {
                group.addTask {
                    do {
                        try await body(address)
                    } catch {
                        self.logger.warning("name server \(address): \(error)")
                    }
                }
            }
        }
    }

    func shutdown() async { await client.shutdown() }
}
