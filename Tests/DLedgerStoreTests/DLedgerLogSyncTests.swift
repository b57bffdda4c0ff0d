import DLedgerStore
import Testing

/// What a failed fsync leaves: the synced end, and cutting the unsynced tail (found by the chaos
/// runner's fsync faults in SYNC_FLUSH mode, where a replica kept entries it could not sync).
struct DLedgerLogSyncTests {
    @Test func theSyncedEndIsWhereTheLastFsyncLeftOff() throws {
        let root = try temporaryDirectory()
        var (log, entries) = try DLedgerLogTests.filled(root, count: 30)
        #expect(log.syncedEnd == log.dataEnd, "everything is synced after flush")
        for i in 30..<60 { entries.append(try log.append(term: 2, body: DLedgerLogTests.body(Int64(i)))) }
        let lastSynced = entries[29]
        #expect(log.syncedEnd == lastSynced.pos + Int64(lastSynced.size))
        #expect(log.syncedEnd < log.dataEnd)
        try log.flush()
        #expect(log.syncedEnd == log.dataEnd)
    }

    @Test func cuttingToTheSyncedEndDropsExactlyTheUnsyncedEntries() throws {
        let root = try temporaryDirectory()
        var (log, entries) = try DLedgerLogTests.filled(root, count: 30)
        for i in 30..<60 { entries.append(try log.append(term: 2, body: DLedgerLogTests.body(Int64(i)))) }
        let cut = try log.cut(toEnd: log.syncedEnd)
        #expect(cut == 30)
        #expect(log.ledgerEndIndex == 29 && log.ledgerEndTerm == entries[29].term)
        #expect(log.dataEnd == entries[29].pos + Int64(entries[29].size))
        #expect(try log.entry(at: 29) == entries[29])
        #expect(try log.entry(at: 30) == nil)
        // The cut entries are written again at the same positions (as a leader resends them).
        for i in 30..<60 {
            let again = try log.append(term: 2, body: DLedgerLogTests.body(Int64(i)))
            #expect(again.pos == entries[i].pos)
        }
        #expect(try log.cut(toEnd: log.dataEnd) == 0, "nothing past the end: nothing cut")
    }

    @Test func aCutMidEntryKeepsOnlyWholeEntriesBelowIt() throws {
        let root = try temporaryDirectory()
        var (log, entries) = try DLedgerLogTests.filled(root, count: 10)
        #expect(try log.cut(toEnd: entries[5].pos + 10) == 5)
        #expect(log.ledgerEndIndex == 4)
        #expect(try log.cut(toEnd: 0) == 5)
        #expect(log.isEmpty)
    }
}
