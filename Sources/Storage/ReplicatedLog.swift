/// One put's entry in a replicated log: its place (index, byte range) and the leader term that
/// wrote it. By Raft's log matching, an entry with the same index and term is the same entry.
public struct ReplicatedEntry: Sendable, Equatable {
    public var index: Int64
    public var term: Int64
    /// The entry's first byte and the byte after it in the data files (the same on every replica).
    public var position: Int64
    public var end: Int64

    public init(index: Int64, term: Int64, position: Int64, end: Int64) {
        self.index = index
        self.term = term
        self.position = position
        self.end = end
    }
}

/// What became of a put's entry.
public enum ReplicationOutcome: Sendable, Equatable {
    /// A quorum has it: it stays, whoever leads next.
    case committed
    /// Another entry was committed at its index: the put is not stored anywhere and may be retried.
    case lost(String)
    /// Not known by the deadline (it may still commit): retrying could store it twice.
    case unknown(String)
}

/// A log whose appends count only once a quorum commits them (DLedger). The broker's put waits
/// here; when leadership moves during the wait, it keeps waiting, as a follower, until the entry's
/// index is committed, and then tells whose entry that is.
public protocol ReplicatedLog: Sendable {
    func awaitCommit(of entry: ReplicatedEntry, timeout: Duration) async -> ReplicationOutcome
    /// Whether another put may wait now (RocketMQ's LEADER_PENDING_FULL when not).
    var acceptsMoreWaiters: Bool { get }
}
