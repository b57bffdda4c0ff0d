/// The in-memory log of a member: entries `firstIndex ... lastIndex` (1-based, contiguous).
public struct RaftLog: Sendable, Equatable {
    public private(set) var entries: [LogEntry]

    public init(entries: [LogEntry] = []) {
        precondition(zip(entries, entries.dropFirst()).allSatisfy { $0.index + 1 == $1.index }, "log not contiguous")
        precondition(entries.first.map { $0.index == 1 } ?? true, "log must start at index 1")
        self.entries = entries
    }

    public var lastIndex: LogIndex { LogIndex(entries.count) }
    public var lastTerm: Term { entries.last?.term ?? .zero }

    /// Term of the entry at `index`; `.zero` for index 0; nil past the end.
    public func term(at index: LogIndex) -> Term? {
        if index == 0 { return .zero }
        guard index <= lastIndex else { return nil }
        return entries[Int(index - 1)].term
    }

    public func entry(at index: LogIndex) -> LogEntry? {
        guard index >= 1, index <= lastIndex else { return nil }
        return entries[Int(index - 1)]
    }

    public func slice(from: LogIndex, maxCount: Int) -> [LogEntry] {
        guard from >= 1, from <= lastIndex else { return [] }
        let start = Int(from - 1)
        let end = maxCount >= entries.count - start ? entries.count : start + maxCount
        return Array(entries[start..<end])
    }

    public func matches(index: LogIndex, term: Term) -> Bool { self.term(at: index) == term }

    /// §5.4.1: a candidate's log is at least as up to date as ours.
    public func isUpToDate(lastIndex candidateIndex: LogIndex, lastTerm candidateTerm: Term) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// The largest index ≤ `index` whose term is ≤ `term` (fast back-off on a rejected append).
    public func lastIndex(atOrBelow index: LogIndex, withTermAtMost term: Term) -> LogIndex {
        var candidate = min(index, lastIndex)
        while candidate > 0, let found = self.term(at: candidate), found > term { candidate -= 1 }
        return candidate
    }

    public mutating func append(_ entry: LogEntry) {
        precondition(entry.index == lastIndex + 1, "append \(entry.index) after \(lastIndex)")
        entries.append(entry)
    }

    /// Drops every entry from `index` on.
    public mutating func truncate(from index: LogIndex) {
        guard index <= lastIndex else { return }
        entries.removeSubrange(Int(index - 1)...)
    }
}
