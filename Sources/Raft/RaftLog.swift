/// A member's log as the core sees it: the durable entries in `storage`, then an unstable tail
/// of entries not yet durable (or rewritten since), from `unstableStart` on (etcd's `raftLog`).
///
/// A follower whose log ends before the leader's first entry restarts its log after the
/// leader's boundary (`reset`); until the driver has carried that out, `pendingReset` stands
/// in for the storage below the unstable tail.
public struct RaftLog {
    public let storage: any RaftLogStorage
    var unstable: [LogEntry] = []
    var unstableStart: LogIndex
    var pendingReset: LogBoundary?

    public init(storage: any RaftLogStorage) {
        self.storage = storage
        unstableStart = storage.lastIndex + 1
    }

    /// A log held in memory with `entries` already durable (tests).
    public init(entries: [LogEntry] = []) {
        self.init(storage: MemoryLogStorage(entries: entries))
    }

    public var firstIndex: LogIndex { pendingReset.map { $0.index + 1 } ?? storage.firstIndex }
    public var lastIndex: LogIndex { unstable.last?.index ?? unstableStart - 1 }
    public var lastTerm: Term { term(at: lastIndex) ?? .zero }
    /// Every available entry (tests and the simulator; a disk log would read it all).
    public var entries: [LogEntry] { slice(from: firstIndex, maxCount: Int.max) }

    /// The term at `index`, the boundary's at `firstIndex - 1` (`.zero` at 0 for a log retention
    /// never cut); nil outside.
    public func term(at index: LogIndex) -> Term? {
        if index >= unstableStart {
            guard index <= lastIndex else { return nil }
            return unstable[Int(index - unstableStart)].term
        }
        if let pendingReset { return index == pendingReset.index ? pendingReset.term : nil }
        return storage.term(at: index)
    }

    /// Invariant (the simulator checks it): the unstable tail starts within or right after the
    /// stored log, unless a restart is pending.
    public var tailFollowsStorage: Bool { pendingReset != nil || unstableStart <= storage.lastIndex + 1 }

    public var debugState: String {
        "unstable \(unstableStart)...\(lastIndex), pending restart \(pendingReset.map { "\($0.index)@\($0.term)" } ?? "none"), "
            + "stored \(storage.firstIndex)...\(storage.lastIndex)"
    }

    public func entry(at index: LogIndex) -> LogEntry? { slice(from: index, maxCount: 1).first }

    /// Up to `maxCount` entries from `from` on, and no more payload than `maxBytes` (but at
    /// least one entry).
    public func slice(from: LogIndex, maxCount: Int, maxBytes: Int = .max) -> [LogEntry] {
        guard from >= max(firstIndex, 1), from <= lastIndex, maxCount > 0 else { return [] }
        var result: [LogEntry] = []
        var bytes = 0
        if from < unstableStart {
            let wanted = min(maxCount, Int(unstableStart - from))
            result = storage.entries(from: from, maxCount: wanted, maxBytes: maxBytes)
            bytes = result.reduce(0) { $0 + $1.payload.count }
            guard result.count == wanted, bytes < maxBytes else { return result }
        }
        var position = Int(max(from, unstableStart) - unstableStart)
        while result.count < maxCount, position < unstable.count {
            let entry = unstable[position]
            if !result.isEmpty, bytes + entry.payload.count > maxBytes { break }
            result.append(entry)
            bytes += entry.payload.count
            position += 1
        }
        return result
    }

    public func matches(index: LogIndex, term: Term) -> Bool { self.term(at: index) == term }

    /// §5.4.1: a candidate's log is at least as up to date as ours.
    public func isUpToDate(lastIndex candidateIndex: LogIndex, lastTerm candidateTerm: Term) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// The largest index ≤ `index` whose term is ≤ `term` (fast back-off on a rejected append);
    /// stops at the log's boundary.
    public func lastIndex(atOrBelow index: LogIndex, withTermAtMost term: Term) -> LogIndex {
        var candidate = min(index, lastIndex)
        while candidate > 0, let found = self.term(at: candidate), found > term { candidate -= 1 }
        return candidate
    }

    /// The last configuration entry, unstable tail first.
    func lastConfiguration() -> LogEntry? {
        if let entry = unstable.last(where: { $0.kind == .configuration }) { return entry }
        guard pendingReset == nil, unstableStart > 1 else { return nil }
        return storage.lastConfiguration(atOrBelow: unstableStart - 1)
    }

    mutating func append(_ entry: LogEntry) {
        precondition(entry.index == lastIndex + 1, "append \(entry.index) after \(lastIndex) (\(debugState))")
        unstable.append(entry)
    }

    /// Drops every entry from `index` on (the storage follows when the driver writes the tail).
    mutating func truncate(from index: LogIndex) {
        guard index <= lastIndex else { return }
        if index >= unstableStart {
            unstable.removeSubrange(Int(index - unstableStart)...)
        } else {
            precondition(pendingReset == nil || index > pendingReset!.index, "truncating below the log's boundary")
            unstable = []
            unstableStart = index
        }
    }

    /// Forgets the whole log: it continues right after `boundary`.
    mutating func reset(after boundary: LogBoundary) {
        unstable = []
        unstableStart = boundary.index + 1
        pendingReset = boundary
    }

    /// The driver made the log durable through `index` (at `term`): that part of the tail now
    /// reads from storage.
    mutating func stable(through index: LogIndex, term: Term) {
        if let reset = pendingReset, storage.firstIndex == reset.index + 1, storage.term(at: reset.index) == reset.term
        {
            pendingReset = nil
        }
        guard pendingReset == nil, index >= unstableStart, index <= lastIndex,
            unstable[Int(index - unstableStart)].term == term, storage.lastIndex >= index,
            storage.term(at: index) == term
        else { return }
        unstable.removeFirst(Int(index - unstableStart + 1))
        unstableStart = index + 1
    }
}

/// Where a log restarts after a reset: the last entry it no longer holds.
public struct LogBoundary: Sendable, Equatable {
    public var index: LogIndex
    public var term: Term
    public init(index: LogIndex, term: Term) {
        self.index = index
        self.term = term
    }
}
