/// What the driver feeds the core.
public enum RaftInput: Sendable {
    case tick
    case receive(Envelope)
    case propose([UInt8])
    /// The driver's write of the log through `index` (at `term`) is durable.
    case persisted(through: LogIndex, term: Term)
    case transferLeadership(to: NodeID)
    case changeMembership(MembershipChange)
    /// The driver saw its connection to `peer` close (a killed process resets its sockets).
    /// A follower of that leader campaigns at once instead of waiting out the election timeout;
    /// pre-vote and the other voters' leases still decide, so safety does not depend on it.
    case connectionLost(NodeID)
}

public enum MembershipChange: Sendable, Equatable {
    case addVoter(NodeID)
    case removeVoter(NodeID)
}

public enum ProposalOutcome: Sendable, Equatable {
    case accepted(index: LogIndex, term: Term)
    case notLeader(leaderHint: NodeID?)
    case leadershipTransferInProgress
    case membershipChangePending
}

/// Work for the driver, in order: persist `hardState`, `restartLog` (drop the whole stored log,
/// which continues after that boundary) and `entriesToAppend` (truncating the stored log at
/// the first entry's index), then send `messagesAfterPersist`, then apply `entriesToApply`.
/// `messages` may leave at once.
public struct Ready: Sendable {
    public var hardState: HardState?
    /// The leader no longer holds the entries this log lacks: the log restarts after the
    /// leader's boundary, and the entries through it count as applied (retention dropped them).
    public var restartLog: LogBoundary?
    public var entriesToAppend: [LogEntry] = []
    public var messages: [Envelope] = []
    /// Promises of durability (granted votes, append acks): only after the persist.
    public var messagesAfterPersist: [Envelope] = []
    /// Committed and locally durable, in order (when `RaftConfig.deliversAppliedEntries`).
    public var entriesToApply: [LogEntry] = []
    /// Set when the applied index advanced: everything through it is committed and durable here.
    public var appliedThrough: LogIndex?
    public var proposal: ProposalOutcome?

    public var mustPersist: Bool { hardState != nil || restartLog != nil || !entriesToAppend.isEmpty }
    public var isEmpty: Bool {
        !mustPersist && messages.isEmpty && messagesAfterPersist.isEmpty && appliedThrough == nil && proposal == nil
    }
}

/// One Raft member as a pure state machine (Ongaro & Ousterhout 2014, Ongaro's thesis 2014),
/// shaped like etcd's `raft`: `step` takes an input and returns the work to do. No clocks,
/// sockets, files or locks; randomness comes from `RaftConfig.seed`.
public struct RaftCore {
    public let id: NodeID
    let config: RaftConfig
    public internal(set) var role: RaftRole = .follower
    /// Invariant: never decreases.
    public internal(set) var term: Term
    /// Invariant: set at most once per term.
    public internal(set) var votedFor: NodeID?
    public internal(set) var leader: NodeID?
    public internal(set) var log: RaftLog
    /// Invariant: appliedIndex <= commitIndex <= log.lastIndex; never decreases.
    public internal(set) var commitIndex: LogIndex
    public internal(set) var appliedIndex: LogIndex
    /// The log is durable through here (the driver said so).
    public internal(set) var stableIndex: LogIndex
    public internal(set) var voters: Set<NodeID>

    var progress: [NodeID: Progress] = [:]
    var votes: [NodeID: Bool] = [:]
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    var leadTransferee: NodeID?
    var pendingConfigIndex: LogIndex = 0
    var rng: SplitMix64
    var lastHardState: HardState
    /// Lowest log index changed during the current step (what the driver must write).
    var dirtyFrom: LogIndex?

    /// A member starting from what it persisted (nothing, the first time). `appliedIndex` is
    /// where the driver's state machine is; entries retention dropped count as applied.
    public init(
        config: RaftConfig, hardState: HardState = HardState(), log: RaftLog = RaftLog(), appliedIndex: LogIndex = 0
    ) {
        precondition(
            config.heartbeatTicks >= 1 && config.electionTimeoutTicks > config.heartbeatTicks, "bad timing config")
        id = config.id
        self.config = config
        // A torn write can leave entries of a term whose hard state never reached the disk; no
        // message promised anything in that term (those leave only after the persist).
        term = max(hardState.term, log.lastTerm)
        votedFor = hardState.term >= log.lastTerm ? hardState.votedFor : nil
        self.log = log
        commitIndex = max(min(hardState.commit, log.lastIndex), log.firstIndex - 1)
        self.appliedIndex = max(min(appliedIndex, commitIndex), log.firstIndex - 1)
        stableIndex = log.lastIndex
        voters = Set(config.voters)
        rng = SplitMix64(seed: config.seed ^ (config.id.value &* 0x9E37_79B9_7F4A_7C15))
        lastHardState = HardState(term: term, votedFor: votedFor, commit: commitIndex)
        voters = votersFromLog()
        resetElectionTimer()
    }

    public var quorum: Int { voters.count / 2 + 1 }
    /// The leader's knowledge of how far `peer`'s log matches its own (nil when not leading).
    public func matchIndex(of peer: NodeID) -> LogIndex? { progress[peer]?.match }
    /// Whether a leadership transfer is under way (proposals are refused meanwhile).
    public var isTransferringLeadership: Bool { leadTransferee != nil }
    public var raftConfig: RaftConfig { config }
    public var isLeader: Bool { role == .leader }
    public var lastIndex: LogIndex { log.lastIndex }
    var promotable: Bool { voters.contains(id) }

    public mutating func step(_ input: RaftInput) -> Ready {
        var ready = Ready()
        dirtyFrom = nil
        let termBefore = term
        let commitBefore = commitIndex
        switch input {
        case .tick: tick(into: &ready)
        case .receive(let envelope): receive(envelope, into: &ready)
        case .propose(let payload): ready.proposal = propose(kind: .normal, payload: payload, into: &ready)
        case .persisted(let index, let entryTerm): persisted(through: index, term: entryTerm, into: &ready)
        case .transferLeadership(let transferee): transferLeadership(to: transferee, into: &ready)
        case .changeMembership(let change): ready.proposal = changeMembership(change, into: &ready)
        case .connectionLost(let peer): connectionLost(to: peer, into: &ready)
        }
        precondition(term >= termBefore, "term went back from \(termBefore) to \(term)")
        precondition(commitIndex >= commitBefore, "commit went back from \(commitBefore) to \(commitIndex)")
        precondition(commitIndex <= log.lastIndex, "commit \(commitIndex) > last \(log.lastIndex)")
        finish(&ready)
        return ready
    }

    /// Fills in what to persist and apply.
    mutating func finish(_ ready: inout Ready) {
        if let from = dirtyFrom {
            ready.entriesToAppend = log.slice(from: from, maxCount: Int.max)
        }
        let hardState = HardState(term: term, votedFor: votedFor, commit: commitIndex)
        if hardState != lastHardState {
            ready.hardState = hardState
            lastHardState = hardState
        }
        let applyThrough = min(commitIndex, stableIndex)
        if applyThrough > appliedIndex {
            if config.deliversAppliedEntries {
                ready.entriesToApply = log.slice(from: appliedIndex + 1, maxCount: Int(applyThrough - appliedIndex))
            }
            appliedIndex = applyThrough
            ready.appliedThrough = applyThrough
        }
    }

    // MARK: log changes

    mutating func appendToLog(_ entry: LogEntry) {
        log.append(entry)
        dirtyFrom = min(dirtyFrom ?? entry.index, entry.index)
        if entry.kind == .configuration { applyConfiguration(Self.decodeVoters(entry.payload)) }
    }

    mutating func truncateLog(from index: LogIndex) {
        precondition(index > commitIndex, "truncating committed entry \(index) (commit \(commitIndex))")
        let hadConfiguration = (log.lastConfiguration()?.index ?? 0) >= index
        log.truncate(from: index)
        stableIndex = min(stableIndex, index - 1)
        dirtyFrom = min(dirtyFrom ?? index, index)
        if hadConfiguration { applyConfiguration(votersFromLog()) }
    }

    mutating func persisted(through index: LogIndex, term entryTerm: Term, into ready: inout Ready) {
        log.stable(through: index, term: entryTerm)
        guard index > stableIndex, log.term(at: index) == entryTerm else { return }
        stableIndex = index
        if role == .leader, maybeCommit() { sendToIdlePeers(into: &ready) }
    }

    // MARK: messages

    mutating func send(_ message: RaftMessage, to peer: NodeID, into ready: inout Ready, afterPersist: Bool = false) {
        let envelope = Envelope(from: id, to: peer, term: term, message: message)
        if afterPersist {
            ready.messagesAfterPersist.append(envelope)
        } else {
            ready.messages.append(envelope)
        }
    }

    mutating func resetElectionTimer() {
        electionElapsed = 0
        randomizedElectionTimeout = rng.next(in: config.electionTimeoutTicks..<(2 * config.electionTimeoutTicks))
    }

    mutating func tick(into ready: inout Ready) {
        electionElapsed += 1
        switch role {
        case .follower, .preCandidate, .candidate:
            if promotable, electionElapsed >= randomizedElectionTimeout { campaign(transfer: false, into: &ready) }
        case .leader:
            heartbeatElapsed += 1
            if electionElapsed >= config.electionTimeoutTicks {
                electionElapsed = 0
                if leadTransferee != nil { leadTransferee = nil }  // transfer took too long: give up
                if config.checkQuorum {
                    guard quorumActive() else {
                        becomeFollower(term: term, leader: nil)  // lost touch with a majority
                        return
                    }
                    for peer in progress.keys { progress[peer]!.recentActive = false }
                }
            }
            if heartbeatElapsed >= config.heartbeatTicks {
                heartbeatElapsed = 0
                for peer in voters.sorted() where peer != id {
                    let commit = min(progress[peer]?.match ?? 0, commitIndex)
                    send(.heartbeat(leaderCommit: commit), to: peer, into: &ready)
                }
            }
        }
    }

    func quorumActive() -> Bool {
        let active = voters.filter { $0 == id || progress[$0]?.recentActive == true }.count
        return active >= quorum
    }
}
