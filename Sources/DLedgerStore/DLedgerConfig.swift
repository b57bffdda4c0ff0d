/// One member of a DLedger group, from the broker's `dLeger…` keys (`dledger-design.md` §10.1).
///
/// Files live under `<storeBaseDir>/dledger-<selfId>/`: `data/` (or `dataStorePath`),
/// `index/`, `currterm` and `checkpoint` (§6.1).
public struct DLedgerConfig: Sendable {
    public var group: String
    public var selfId: String
    public var peers: DLedgerPeers
    public var storeBaseDir: String
    /// `storePathDLedgerCommitLog`: where the data files go instead of `…/data`.
    public var dataStorePath: String?
    public var dataFileSize: Int = 1 << 30
    /// 32 × 5 Mi units, as DLedger's `mappedFileSizeForEntryIndex`.
    public var indexFileSize: Int = 32 * 5 * 1024 * 1024
    /// `flushDiskType=SYNC_FLUSH`: a replica acknowledges entries only once fsynced, so a quorum
    /// commit means a quorum has them on disk. Otherwise written (page cache) is enough and the
    /// files are synced every `flushIntervalMillis`.
    public var syncFlush = false
    public var flushIntervalMillis = 500
    /// `preferredLeaderId`: leadership moves there once that member has caught up.
    public var preferredLeaderId: String?
    /// Raft timing (25 ms ticks; elections after 400–800 ms of silence).
    public var tickMillis = 25
    /// How long a former leader with puts waiting for their entries' fate waits to hear from a
    /// new leader before answering them "unknown" (FLUSH_SLAVE_TIMEOUT): one shortest election
    /// timeout, within which the rest of a connected group has usually elected one.
    public var leaderlessGraceMillis = 400

    public init(group: String, selfId: String, peers: DLedgerPeers, storeBaseDir: String) {
        self.group = group
        self.selfId = selfId
        self.peers = peers
        self.storeBaseDir = storeBaseDir
    }

    public var memberDirectory: String { storeBaseDir + "/dledger-" + selfId }
    public var dataDirectory: String { dataStorePath ?? memberDirectory + "/data" }
    public var indexDirectory: String { memberDirectory + "/index" }
    public var termPath: String { memberDirectory + "/currterm" }
    public var checkpointPath: String { memberDirectory + "/checkpoint" }
}

public enum DLedgerServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Writes go to the leader (`leaderId` when known).
    case notLeader(leaderId: String?)
    case leadershipTransferring
    case unsupported(String)
    case cannotListen(address: String, reason: String)
    case badState(path: String, problem: String)
    case notRunning
    /// Appending to this replica's files failed; it rejoins as a follower.
    case storage(String)

    public var description: String {
        switch self {
        case .notLeader(let leader):
            "not the DLedger leader" + (leader.map { " (the leader is \($0))" } ?? " (no leader now)")
        case .leadershipTransferring: "leadership is being transferred"
        case .unsupported(let what): "unsupported in DLedger mode: \(what)"
        case .cannotListen(let address, let reason): "cannot listen on the dLegerPeers address \(address): \(reason)"
        case .badState(let path, let problem): "\(path): \(problem)"
        case .notRunning: "the DLedger member is not running"
        case .storage(let reason): "the DLedger log could not be written: \(reason)"
        }
    }
}

/// What the broker sees of its member: role, term, leader, and whether the leader may serve.
public struct DLedgerMemberState: Sendable, Equatable, CustomStringConvertible {
    public enum Role: String, Sendable, Equatable {
        case follower = "FOLLOWER"
        case candidate = "CANDIDATE"
        case leader = "LEADER"
    }
    public var role: Role
    public var term: UInt64
    public var leaderId: String?
    /// The leader committed an entry of its own term, so everything before it is committed.
    public var leaderReady: Bool

    public init(role: Role, term: UInt64, leaderId: String?, leaderReady: Bool) {
        self.role = role
        self.term = term
        self.leaderId = leaderId
        self.leaderReady = leaderReady
    }

    public var description: String {
        "\(role.rawValue) term \(term)" + (leaderId.map { " leader \($0)" } ?? "") + (leaderReady ? " ready" : "")
    }

    /// Whether this state deserves an info line after `logged`, the last state that got one:
    /// a new role, term or readiness, or a leader other than the one logged. Losing the leader
    /// and finding the same one again within a term is not (a replica whose writes fail
    /// restarts its core, and forgets its leader, many times a second).
    public func isNotable(after logged: DLedgerMemberState?) -> Bool {
        guard let logged, logged.role == role, logged.term == term, logged.leaderReady == leaderReady else {
            return true
        }
        return leaderId != nil && leaderId != logged.leaderId
    }
}
