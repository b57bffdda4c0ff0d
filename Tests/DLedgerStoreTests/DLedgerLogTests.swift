import DLedgerStore
import NIOCore
import Raft
import Storage
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh directory under /tmp for one test.
func temporaryDirectory() throws -> String {
    var template = Array("/tmp/dledger-test-XXXXXX".utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        throw StoreError.io(path: "/tmp/dledger-test-XXXXXX", offset: 0, errno: errno)
    }
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

struct DLedgerLogTests {
    static let dataFileSize = 4096
    static let indexFileSize = 32 * 64

    static func open(_ root: String) -> DLedgerLog {
        DLedgerLog(
            dataDirectory: root + "/data", indexDirectory: root + "/index", dataFileSize: dataFileSize,
            indexFileSize: indexFileSize)
    }

    static func body(_ i: Int64) -> [UInt8] {
        Array("entry-\(i)-".utf8) + [UInt8](repeating: UInt8(i % 251), count: 150)
    }

    static func filled(_ root: String, count: Int64) throws -> (DLedgerLog, [DLedgerEntry]) {
        var log = open(root)
        try log.recover()
        var entries: [DLedgerEntry] = []
        for i in 0..<count { entries.append(try log.append(term: 1 + i / 40, body: body(i))) }
        try log.flush()
        return (log, entries)
    }

    @Test func entriesSpanFilesAndSurviveAReopen() throws {
        let root = try temporaryDirectory()
        let (log, entries) = try Self.filled(root, count: 100)
        #expect(log.ledgerBeginIndex == 0 && log.ledgerEndIndex == 99 && log.ledgerEndTerm == 3)
        #expect(
            entries.allSatisfy { Int($0.pos) % Self.dataFileSize + $0.size <= Self.dataFileSize },
            "no entry straddles files")
        #expect(Set(entries.map { $0.pos / Int64(Self.dataFileSize) }).count > 3)
        var reopened = Self.open(root)
        #expect(try reopened.recover() == nil, "an intact log needs no cut")
        #expect(reopened.ledgerEndIndex == 99 && reopened.dataEnd == log.dataEnd)
        for entry in entries { #expect(try reopened.entry(at: entry.index) == entry) }
        #expect(try reopened.entry(at: 100) == nil)
    }

    /// Retention drops whole leading files below the limit; the first entry of the first file
    /// left becomes the log's first, also after a reopen, and the index keeps only what it needs.
    @Test func retentionDropsLeadingFilesBelowTheLimit() throws {
        let root = try temporaryDirectory()
        var (log, entries) = try Self.filled(root, count: 100)
        let limit = entries[60].pos
        let deleted = try log.deleteLeadingFiles(maxCount: 100, below: limit) { _ in true }
        #expect(deleted > 0)
        let firstKept = try #require(entries.first { $0.pos >= Int64(deleted * Self.dataFileSize) })
        #expect(log.ledgerBeginIndex == firstKept.index)
        #expect(entries.filter { $0.index < firstKept.index }.allSatisfy { $0.pos + Int64($0.size) <= limit })
        #expect(try log.entry(at: firstKept.index - 1) == nil)
        for entry in entries where entry.index >= firstKept.index { #expect(try log.entry(at: entry.index) == entry) }
        var reopened = Self.open(root)
        #expect(try reopened.recover() == nil)
        #expect(reopened.ledgerBeginIndex == firstKept.index && reopened.ledgerEndIndex == 99)
        #expect(try reopened.entry(at: 99) == entries[99])
        // Nothing at or above the limit goes, and the last file never does.
        #expect(try reopened.deleteLeadingFiles(maxCount: 100, below: 0) { _ in true } == 0)
        _ = try reopened.deleteLeadingFiles(maxCount: 100, below: .max) { _ in true }
        #expect(try reopened.entry(at: 99) == entries[99])
    }

    /// A follower restarts its log at a leader's entry in the middle of a file, takes the
    /// leader's next entries at the same positions, and recovers to the same log.
    @Test func aLogRestartsAtALeadersEntryMidFile() throws {
        let (_, entries) = try Self.filled(try temporaryDirectory(), count: 80)
        let boundary = try #require(entries.first { $0.index > 30 && $0.pos % Int64(Self.dataFileSize) != 0 })
        let root = try temporaryDirectory()
        var follower = Self.open(root)
        try follower.recover()
        for entry in entries.prefix(5) { try follower.append(entry) }
        try follower.restart(with: boundary)
        #expect(follower.ledgerBeginIndex == boundary.index && follower.ledgerEndIndex == boundary.index)
        for entry in entries where entry.index > boundary.index { try follower.append(entry) }
        try follower.flush()
        var reopened = Self.open(root)
        #expect(try reopened.recover() == nil)
        #expect(reopened.ledgerBeginIndex == boundary.index && reopened.ledgerEndIndex == 79)
        for entry in entries where entry.index >= boundary.index {
            #expect(try reopened.entry(at: entry.index) == entry)
        }
        #expect(try reopened.entry(at: boundary.index - 1) == nil)
    }

    @Test func aFollowerStoresTheLeadersEntriesAtTheSamePositions() throws {
        let (_, entries) = try Self.filled(try temporaryDirectory(), count: 60)
        var follower = Self.open(try temporaryDirectory())
        try follower.recover()
        for entry in entries { try follower.append(entry) }
        for entry in entries { #expect(try follower.entry(at: entry.index)?.pos == entry.pos) }
        var shifted = entries[0]
        shifted.index = 60
        shifted.pos = follower.dataEnd + 8
        #expect(throws: DLedgerLogError.self) { try follower.append(shifted) }
    }

    @Test(arguments: 0..<12)
    func recoveryCutsATornTailAtAnEntryBoundary(seed: Int) throws {
        let root = try temporaryDirectory()
        let (log, entries) = try Self.filled(root, count: 50)
        // Zero the data from a random byte of the last few entries on: a torn write.
        var rng = SplitMix64(seed: UInt64(seed) &+ 0xC0FFEE)
        let cut = entries[45].pos + Int64(rng.next(in: 0..<Int(log.dataEnd - entries[45].pos)))
        let file = try MappedFile(
            directory: root + "/data", fileFromOffset: cut - cut % Int64(Self.dataFileSize), fileSize: Self.dataFileSize
        )
        try file.truncate(to: Int(cut - file.fileFromOffset))
        var reopened = Self.open(root)
        try reopened.recover()
        let survivors = entries.filter { $0.pos + Int64($0.size) <= cut }
        #expect(reopened.ledgerEndIndex == survivors.last!.index, "cut at \(cut)")
        for entry in survivors { #expect(try reopened.entry(at: entry.index) == entry) }
        // The log goes on from the cut, at the positions a leader would use.
        let next = try reopened.append(term: 9, body: [1, 2, 3])
        #expect(next.index == survivors.last!.index + 1)
        #expect(try reopened.entry(at: next.index) == next)
    }

    @Test func aDamagedIndexUnitIsRebuiltFromTheData() throws {
        let root = try temporaryDirectory()
        let (_, entries) = try Self.filled(root, count: 30)
        let index = try MappedFile(directory: root + "/index", fileFromOffset: 0, fileSize: Self.indexFileSize)
        _ = pwrite(index.fd.rawValue, [UInt8](repeating: 0xEE, count: 32), 32, off_t(12 * 32))
        var reopened = Self.open(root)
        try reopened.recover()
        #expect(reopened.ledgerEndIndex == 29)
        for entry in entries { #expect(try reopened.entry(at: entry.index) == entry) }
    }

    @Test func truncateDropsTheDivergentTailAndAppendsContinue() throws {
        var (log, entries) = try Self.filled(try temporaryDirectory(), count: 40)
        try log.truncate(after: 24)
        #expect(log.ledgerEndIndex == 24 && log.ledgerEndTerm == entries[24].term)
        #expect(try log.entry(at: 25) == nil)
        var replacement = entries[25]
        replacement.term = 7
        replacement.body = [9, 9]
        try log.append(replacement)
        #expect(try log.entry(at: 25) == replacement)
    }

    @Test func damageFarBeforeTheTailRefusesToStart() throws {
        let root = try temporaryDirectory()
        let (_, entries) = try Self.filled(root, count: 100)
        let victim = entries[2]
        let file = try MappedFile(directory: root + "/data", fileFromOffset: 0, fileSize: Self.dataFileSize)
        _ = pwrite(file.fd.rawValue, [0xFF], 1, off_t(victim.pos + 60))
        var reopened = Self.open(root)
        #expect(throws: DLedgerLogError.self) { try reopened.recover() }
    }
}
