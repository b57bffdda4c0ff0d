/// A Raft term (§5.1). Never decreases on a node.
public struct Term: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public static let zero = Term(0)
    public static func < (lhs: Term, rhs: Term) -> Bool { lhs.value < rhs.value }
    public var next: Term { Term(value + 1) }
    public var description: String { "t\(value)" }
}

/// A position in the replicated log; the first entry has index 1, 0 means "none".
public typealias LogIndex = UInt64

/// A member of the group. DLedger's `n0`, `n1`, … map to 0, 1, ….
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.value < rhs.value }
    public var description: String { "n\(value)" }
}

public enum EntryKind: UInt8, Sendable {
    /// An application payload (a CommitLog record in the broker).
    case normal = 0
    /// Appended by every new leader so earlier-term entries commit through it (§5.4.2, §8).
    case noop = 1
    /// A new voter set (single-server membership change, thesis §4.1); effective once appended.
    case configuration = 2
}

public struct LogEntry: Sendable, Equatable, CustomStringConvertible {
    public var index: LogIndex
    public var term: Term
    public var kind: EntryKind
    public var payload: [UInt8]

    public init(index: LogIndex, term: Term, kind: EntryKind = .normal, payload: [UInt8] = []) {
        self.index = index
        self.term = term
        self.kind = kind
        self.payload = payload
    }

    public var description: String { "\(index)@\(term)\(kind == .normal ? "" : "/\(kind)")" }
}

/// What must be durable before the node answers anyone: term, vote and commit index (§5.1, Figure 2).
public struct HardState: Sendable, Equatable {
    public var term: Term
    public var votedFor: NodeID?
    public var commit: LogIndex

    public init(term: Term = .zero, votedFor: NodeID? = nil, commit: LogIndex = 0) {
        self.term = term
        self.votedFor = votedFor
        self.commit = commit
    }
}

public enum RaftRole: Sendable, Equatable, CustomStringConvertible {
    case follower, preCandidate, candidate, leader
    public var description: String {
        switch self {
        case .follower: "follower"
        case .preCandidate: "pre-candidate"
        case .candidate: "candidate"
        case .leader: "leader"
        }
    }
}

/// Deterministic randomness: the same seed gives the same election timeouts.
public struct SplitMix64: Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in `range` (empty ranges return the lower bound).
    public mutating func next(in range: Range<Int>) -> Int {
        guard range.count > 1 else { return range.lowerBound }
        return range.lowerBound + Int(next() % UInt64(range.count))
    }
    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool {
        Double(next() >> 11) / Double(1 << 53) < p
    }
}
