import Common
import Logging
import NIOCore
import Remoting
import Synchronization

/// REGISTER_BROKER / UNREGISTER_BROKER with every configured NameServer (`BrokerOuterAPI`).
/// Each NameServer is independent: one being down never blocks the others.
final class NameServerRegistration: Sendable {
    let config: BrokerConfig
    let role: BrokerRoleState
    let logger: Logger
    let client: RemotingClient
    /// A slave's master as the NameServers last named it in a registration answer: its
    /// address and its HA address (RocketMQ's `RegisterBrokerResult`).
    let namedMaster = Mutex<(address: String, haAddress: String)?>(nil)

    init(config: BrokerConfig, role: BrokerRoleState, logger: Logger) {
        self.config = config
        self.role = role
        self.logger = logger
        client = RemotingClient(maxFrameLength: config.limits.maxFrameLength, logger: logger)
    }

    func identity(_ role: LiveRole) -> [String: String] {
        [
            "brokerAddr": config.brokerAddr, "brokerId": String(role.brokerId), "brokerName": config.brokerName,
            "clusterName": config.brokerClusterName,
        ]
    }

    /// Registers the current role with every NameServer; nothing while the role is not known.
    func registerAll(_ body: RegisterBrokerBody) async {
        let role = role.current
        guard role.registers else { return }
        let bytes = config.compressedRegister ? RegisterBrokerBodyCompression.encode(body) : body.json.serializedBytes()
        var fields = identity(role)
        // Not in RocketMQ 4's header (its NameServer ignores it): the Raft term of a DLedger claim.
        if role.term > 0 { fields["term"] = String(role.term) }
        fields["haServerAddr"] = config.haServerAddr
        fields["compressed"] = String(config.compressedRegister)
        fields["bodyCrc32"] = String(CRC32.masked(bytes))
        let request = RemotingCommand.request(code: RequestCode.registerBroker, fields: fields, body: bytes)
        await forEachNameServer { address in
            let response = try await self.client.invoke(address, request, timeoutMillis: 6000)
            if response.code != ResponseCode.success {
                self.logger.warning(
                    "register broker to name server \(address) failed: \(response.code) \(response.remark ?? "")")
            } else if role.brokerId != 0, let master = response.extFields["masterAddr"],
                let ha = response.extFields["haServerAddr"], !master.isEmpty, !ha.isEmpty
            {
                let changed = self.namedMaster.withLock { named in
                    defer { named = (master, ha) }
                    return named?.haAddress != ha
                }
                if changed { self.logger.info("name server \(address) names the master \(master), HA address \(ha)") }
            }
        }
    }

    /// Withdraws `role` (the current one by default) from every NameServer.
    func unregisterAll(_ role: LiveRole? = nil) async {
        let role = role ?? self.role.current
        guard role.registers else { return }
        let request = RemotingCommand.request(code: RequestCode.unregisterBroker, fields: identity(role))
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
