/// A message between two members, stamped with the sender's term.
public struct Envelope: Sendable, Equatable, CustomStringConvertible {
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var message: RaftMessage

    public init(from: NodeID, to: NodeID, term: Term, message: RaftMessage) {
        self.from = from
        self.to = to
        self.term = term
        self.message = message
    }

    public var description: String { "\(from)->\(to) \(term) \(message)" }
}

public enum RaftMessage: Sendable, Equatable, CustomStringConvertible {
    /// Thesis §9.6: "would you vote for me at `term`?" without anyone changing term.
    case preVote(lastLogIndex: LogIndex, lastLogTerm: Term)
    case preVoteResponse(granted: Bool)
    /// RequestVote (§5.2). `leadershipTransfer` bypasses the leader lease (thesis §3.10).
    case vote(lastLogIndex: LogIndex, lastLogTerm: Term, leadershipTransfer: Bool)
    case voteResponse(granted: Bool)
    /// AppendEntries (§5.3).
    case append(prevLogIndex: LogIndex, prevLogTerm: Term, entries: [LogEntry], leaderCommit: LogIndex)
    /// `success`: the follower's log matches through `index`. Rejection: the follower has no
    /// match at `index` (the request's prevLogIndex); `hintIndex`/`hintTerm` let the leader skip a
    /// whole term per round trip.
    case appendResponse(success: Bool, index: LogIndex, hintIndex: LogIndex, hintTerm: Term)
    /// The leader's log starts after `after@term` (retention dropped the rest) and the
    /// follower's ends before it: the follower restarts its log there and catches up from the
    /// leader. No snapshot: the CommitLog needs none. Only committed entries are ever dropped.
    case restartLog(after: LogIndex, term: Term, leaderCommit: LogIndex)
    case heartbeat(leaderCommit: LogIndex)
    case heartbeatResponse
    /// Leadership transfer: the leader tells a caught-up transferee to campaign now.
    case timeoutNow

    public var description: String {
        switch self {
        case .preVote(let index, let term): "PreVote(last \(index)@\(term))"
        case .preVoteResponse(let granted): "PreVoteResp(\(granted))"
        case .vote(let index, let term, let transfer): "Vote(last \(index)@\(term)\(transfer ? ", transfer" : ""))"
        case .voteResponse(let granted): "VoteResp(\(granted))"
        case .append(let prev, let prevTerm, let entries, let commit):
            "App(prev \(prev)@\(prevTerm), \(entries.count) entries\(entries.last.map { " ..\($0.index)" } ?? ""), commit \(commit))"
        case .appendResponse(let success, let index, let hint, let hintTerm):
            success ? "AppResp(ok \(index))" : "AppResp(reject \(index), hint \(hint)@\(hintTerm))"
        case .restartLog(let index, let term, let commit): "RestartLog(after \(index)@\(term), commit \(commit))"
        case .heartbeat(let commit): "Heartbeat(commit \(commit))"
        case .heartbeatResponse: "HeartbeatResp"
        case .timeoutNow: "TimeoutNow"
        }
    }
}
