import Synchronization

/// What the broker is right now. With fixed roles it comes from `brokerRole`/`brokerId` and
/// never changes; in DLedger mode Raft sets it (leader → master with brokerId 0, follower →
/// slave with brokerId selfId + 1, candidate or not yet known → unregistered slave).
public struct LiveRole: Sendable, Equatable, CustomStringConvertible {
    public var role: BrokerRole
    public var brokerId: Int64
    /// The Raft term of the claim (0 with fixed roles). The NameServer keeps the master claim of
    /// the highest term, so a stale node cannot overwrite the real master's route.
    public var term: UInt64
    /// Whether to register with the NameServers at all: false until Raft has told the broker
    /// its role (RocketMQ registers nothing with brokerId -1, apache/rocketmq#1464).
    public var registers: Bool

    public init(role: BrokerRole, brokerId: Int64, term: UInt64 = 0, registers: Bool = true) {
        self.role = role
        self.brokerId = brokerId
        self.term = term
        self.registers = registers
    }

    /// Accepts writes, ends transactions, delivers delayed messages, checks transactions back.
    public var isMaster: Bool { role != .slave }

    public var description: String {
        "\(role.rawValue) brokerId \(brokerId)" + (term > 0 ? " term \(term)" : "")
            + (registers ? "" : " (unregistered)")
    }
}

/// The one owner of the live role: processors, NameServer registration and the master-only
/// services read it instead of `BrokerConfig.brokerRole`.
public final class BrokerRoleState: Sendable {
    private let state: Mutex<LiveRole>

    public init(_ initial: LiveRole) { state = Mutex(initial) }

    public var current: LiveRole { state.withLock { $0 } }
    public var isMaster: Bool { state.withLock { $0.isMaster } }

    /// Sets the role; returns the previous one when it changed, nil when it did not.
    @discardableResult
    public func change(to role: LiveRole) -> LiveRole? {
        state.withLock { current in
            guard current != role else { return nil }
            defer { current = role }
            return current
        }
    }
}
