/// The durable part of a member's log, as the core reads it (etcd's `Storage`). The driver owns
/// it and writes it while carrying out a `Ready`; the core only reads.
///
/// Entries `firstIndex ... lastIndex` are available. Retention may have dropped everything
/// before `firstIndex` (which is then > 1); the term of entry `firstIndex - 1` must still be
/// known (the log's boundary), so appends right after it can be matched. Empty: `lastIndex ==
/// firstIndex - 1`.
public protocol RaftLogStorage: AnyObject {
    var firstIndex: LogIndex { get }
    var lastIndex: LogIndex { get }
    /// The term at `index` for `firstIndex - 1 ... lastIndex` (`.zero` at index 0 while nothing
    /// was dropped); nil otherwise.
    func term(at index: LogIndex) -> Term?
    /// Up to `maxCount` entries from `index` on, stopping before the payload passes `maxBytes`
    /// (but at least one entry); fewer at the end, none outside the range.
    func entries(from index: LogIndex, maxCount: Int, maxBytes: Int) -> [LogEntry]
    /// The last configuration entry at or below `index`, if the log holds one.
    func lastConfiguration(atOrBelow index: LogIndex) -> LogEntry?
}

/// A log kept in memory: the simulator, unit tests and benchmarks.
public final class MemoryLogStorage: RaftLogStorage {
    public private(set) var boundary: (index: LogIndex, term: Term) = (0, .zero)
    public private(set) var stored: [LogEntry] = []

    public init(entries: [LogEntry] = []) {
        precondition(zip(entries, entries.dropFirst()).allSatisfy { $0.index + 1 == $1.index }, "log not contiguous")
        precondition(entries.first.map { $0.index == 1 } ?? true, "log must start at index 1")
        stored = entries
    }

    public var firstIndex: LogIndex { boundary.index + 1 }
    public var lastIndex: LogIndex { boundary.index + LogIndex(stored.count) }

    public func term(at index: LogIndex) -> Term? {
        if index == boundary.index { return boundary.term }
        guard index > boundary.index, index <= lastIndex else { return nil }
        return stored[Int(index - firstIndex)].term
    }

    public func entries(from index: LogIndex, maxCount: Int, maxBytes: Int = .max) -> [LogEntry] {
        guard index >= firstIndex, index <= lastIndex, maxCount > 0 else { return [] }
        var result: [LogEntry] = []
        var bytes = 0
        for entry in stored[Int(index - firstIndex)...] {
            if result.count == maxCount || (!result.isEmpty && bytes + entry.payload.count > maxBytes) { break }
            result.append(entry)
            bytes += entry.payload.count
        }
        return result
    }

    public func lastConfiguration(atOrBelow index: LogIndex) -> LogEntry? {
        stored.last { $0.index <= index && $0.kind == .configuration }
    }

    public func entry(at index: LogIndex) -> LogEntry? { entries(from: index, maxCount: 1).first }

    /// Writes `entries` (contiguous), replacing whatever the log holds from the first one on.
    public func write(_ entries: [LogEntry]) {
        guard let first = entries.first else { return }
        precondition(
            first.index >= firstIndex && first.index <= lastIndex + 1,
            "write at \(first.index) leaves a gap (log \(firstIndex)...\(lastIndex))")
        stored.removeSubrange(Int(first.index - firstIndex)...)
        stored += entries
    }

    /// Drops every entry and restarts the log right after `index` (at `term`).
    public func reset(after index: LogIndex, term: Term) {
        boundary = (index, term)
        stored = []
    }

    /// Retention: drops entries through `index` (keeping its term as the boundary).
    public func compact(through index: LogIndex) {
        guard index >= firstIndex, index <= lastIndex, let term = term(at: index) else { return }
        stored.removeFirst(Int(index - boundary.index))
        boundary = (index, term)
    }
}
