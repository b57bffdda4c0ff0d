/// Timing and limits of one member. Time is counted in ticks; the driver ticks every
/// `tickIntervalMillis` (the core itself never reads a clock).
///
/// Defaults: 25 ms ticks, heartbeats every 100 ms, election timeouts uniform in [400, 800) ms.
/// With those a dead leader is replaced in ~0.4–0.8 s (p99 ≈ 0.75 s measured by `raft-sim`),
/// against DLedger's 6 s heartbeat-leak detection.
public struct RaftConfig: Sendable {
    public var id: NodeID
    /// The initial voters (including `id`), used until a configuration entry replaces them.
    public var voters: [NodeID]
    public var tickIntervalMillis: Int = 25
    public var heartbeatTicks: Int = 4
    /// Election timeouts are drawn uniformly from `electionTimeoutTicks ..< 2 × electionTimeoutTicks`.
    public var electionTimeoutTicks: Int = 16
    /// Entries per AppendEntries message.
    public var maxEntriesPerAppend: Int = 64
    /// Payload bytes per AppendEntries message (at least one entry is always sent).
    public var maxBytesPerAppend: Int = 1 << 20
    /// Whether `Ready.entriesToApply` carries the committed entries. A driver whose state
    /// machine reads the log itself (the broker's reput) turns it off and uses `appliedThrough`.
    public var deliversAppliedEntries = true
    /// AppendEntries messages in flight per follower (pipelining).
    public var maxInflightAppends: Int = 16
    /// Thesis §9.6: campaign only after a pre-vote majority, so a partitioned node cannot inflate terms.
    public var preVote: Bool = true
    /// A leader that has not heard from a quorum within an election timeout steps down, and
    /// followers ignore vote requests while they have a live leader (leader lease).
    public var checkQuorum: Bool = true
    public var seed: UInt64 = 1
    /// Deliberately broken behaviours, for proving the simulator catches them. Never set in production.
    public var mutation: RaftMutation? = nil

    public init(id: NodeID, voters: [NodeID], seed: UInt64 = 1) {
        self.id = id
        self.voters = voters
        self.seed = seed
    }
}

/// Bugs the simulator must catch (the "mutation check" of the test suite).
public enum RaftMutation: Sendable, Equatable {
    /// Grant votes without the log up-to-date check (§5.4.1).
    case voteWithoutLogFreshnessCheck
    /// Commit any entry a majority stores, even from an older term, with no leader no-op — what
    /// DLedger 0.3 does (the Figure 8 hazard, §5.4.2).
    case commitOldTermEntriesByCounting
    /// Leaders do not append a no-op when elected (with the old-term rule kept, a quiet leader never commits).
    case skipLeaderNoop
}
