import Raft

/// The Raft core's view of a DLedger log (`RaftLogStorage`): Raft index `i` is DLedger entry
/// `i − 1`. A new leader's no-op is a DLedger NOOP entry; configuration entries never occur
/// (the group's members come from `dLegerPeers`).
///
/// When retention has dropped a prefix (`ledgerBeginIndex > 0`), the first stored entry serves
/// as the boundary: its term answers for the index before the first one Raft reads.
///
/// Reads cannot throw through the core: the first failure is kept in `readFailure` and the read
/// stops short (an append then carries fewer entries). The driver logs it and takes action.
final class DLedgerRaftStorage: RaftLogStorage {
    var log: DLedgerLog
    var readFailure: (any Error)?

    init(log: DLedgerLog) { self.log = log }

    var firstIndex: LogIndex {
        log.ledgerBeginIndex == 0 ? 1 : LogIndex(log.ledgerBeginIndex) + 2
    }
    var lastIndex: LogIndex { LogIndex(max(log.ledgerEndIndex + 1, 0)) }

    func term(at index: LogIndex) -> Term? {
        if index == 0 { return log.ledgerBeginIndex == 0 ? .zero : nil }
        guard index + 1 >= firstIndex, index <= lastIndex else { return nil }
        if index == lastIndex { return Term(UInt64(log.ledgerEndTerm)) }
        do {
            return try log.indexUnit(at: Int64(index - 1)).map { Term(UInt64($0.term)) }
        } catch {
            readFailure = readFailure ?? error
            return nil
        }
    }

    func entries(from index: LogIndex, maxCount: Int, maxBytes: Int) -> [LogEntry] {
        guard index >= firstIndex, index <= lastIndex, maxCount > 0 else { return [] }
        var result: [LogEntry] = []
        var bytes = 0
        var next = index
        while result.count < maxCount, next <= lastIndex {
            let entry: DLedgerEntry
            do {
                guard let found = try log.entry(at: Int64(next - 1)) else { break }
                entry = found
            } catch {
                readFailure = readFailure ?? error
                break
            }
            if !result.isEmpty, bytes + entry.body.count > maxBytes { break }
            result.append(Self.logEntry(entry))
            bytes += entry.body.count
            next += 1
        }
        return result
    }

    func lastConfiguration(atOrBelow index: LogIndex) -> LogEntry? { nil }

    static func logEntry(_ entry: DLedgerEntry) -> LogEntry {
        LogEntry(
            index: LogIndex(entry.index + 1), term: Term(UInt64(entry.term)),
            kind: entry.magic == DLedgerEntry.magicNoop ? .noop : .normal, payload: entry.body)
    }

    /// Writes the core's entries: truncates a divergent tail first, then appends each at the
    /// next position (the same on every replica, as the logs agree up to there).
    func write(_ entries: [LogEntry]) throws {
        guard let first = entries.first else { return }
        if Int64(first.index) - 1 <= log.ledgerEndIndex { try log.truncate(after: Int64(first.index) - 2) }
        for entry in entries {
            let magic: Int32
            switch entry.kind {
            case .normal: magic = DLedgerEntry.magicNormal
            case .noop: magic = DLedgerEntry.magicNoop
            case .configuration:
                throw DLedgerServerError.unsupported("membership changes (the peers come from dLegerPeers)")
            }
            try log.append(term: Int64(entry.term.value), magic: magic, body: entry.payload)
        }
    }
}
