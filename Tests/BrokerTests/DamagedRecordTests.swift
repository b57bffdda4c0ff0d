import Common
import NIOCore
import Remoting
import Storage
import Testing

@testable import Broker

#if canImport(Glibc)
    import Glibc
#endif

/// A record whose bytes changed on disk is never served: reads stop before it, a pull starting
/// at it is told to skip it, the scrubber reports it, and a restart does not trip over it.
struct DamagedRecordTests {
    /// Stores `count` records in queue 0 of "T" with a clean stop; returns their CommitLog offsets.
    static func cleanStore(_ directory: String, count: Int, segmentSize: Int = 64 * 1024) async throws -> [Int64] {
        let store = MessageStore(config: storeConfig(directory, segmentSize: segmentSize), logger: testLogger) { _ in }
        try store.start()
        var offsets: [Int64] = []
        for i in 0..<count {
            let result = await store.putMessages([
                makeMessage("T", body: "record-\(i)-" + String(repeating: "x", count: 200))
            ])
            offsets.append(result.appended[0].commitLogOffset)
        }
        store.shutdown()
        return offsets
    }

    /// XORs one byte of the CommitLog at `offset` (segments of `segmentSize`).
    static func flip(_ directory: String, at offset: Int64, segmentSize: Int = 64 * 1024) throws {
        let segment = offset / Int64(segmentSize) * Int64(segmentSize)
        let name = String(repeating: "0", count: 20 - String(segment).count) + String(segment)
        let fd = open(directory + "/commitlog/" + name, O_RDWR)
        #expect(fd >= 0)
        defer { close(fd) }
        var byte: UInt8 = 0
        #expect(pread(fd, &byte, 1, off_t(offset - segment)) == 1)
        byte ^= 0x20
        #expect(pwrite(fd, &byte, 1, off_t(offset - segment)) == 1)
    }

    static func bodies(_ result: GetMessageResult) throws -> [String] {
        try StoredMessageCodec.decodeAll(result.messages).map { String(decoding: $0.body.prefix(9), as: UTF8.self) }
    }

    @Test(arguments: [8, 30, 90, 150])  // CRC, in the header, in the body, in the properties
    func pullsServeTheIntactPrefixThenSkipTheDamagedRecord(byte: Int) async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let offsets = try await Self.cleanStore(directory.path, count: 6)
        try Self.flip(directory.path, at: offsets[3] + Int64(byte))
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        let first = store.getMessage(topic: "T", queueId: 0, offset: 0, maxCount: 32, filter: nil)
        #expect(first.status == .found && first.nextBeginOffset == 3)
        #expect(try Self.bodies(first) == ["record-0-", "record-1-", "record-2-"])
        let atDamage = store.getMessage(topic: "T", queueId: 0, offset: 3, maxCount: 32, filter: nil)
        #expect(atDamage.status == .messageDamaged && atDamage.messageCount == 0 && atDamage.nextBeginOffset == 4)
        #expect(atDamage.damage?.contains("00000000000000000000") == true)
        #expect(
            PullMessageProcessor.responseCode(for: atDamage, requestedOffset: 3) == ResponseCode.pullRetryImmediately)
        let rest = store.getMessage(topic: "T", queueId: 0, offset: 4, maxCount: 32, filter: nil)
        #expect(try Self.bodies(rest) == ["record-4-", "record-5-"])
        #expect(throws: StoreError.self) { try store.readRecord(atCommitLogOffset: offsets[3]) }
        #expect(throws: StoreError.self) { try store.lookMessage(atCommitLogOffset: offsets[3]) }
        #expect(store.damage.count == 1, "reported once however often it is read")
        store.shutdown()
    }

    @Test func hostileOffsetsAreOutOfRangeNotTraps() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        _ = try await Self.cleanStore(directory.path, count: 2)
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        for offset in [Int64.min, -1, Int64.max, Int64.max - 3, store.commitLogMaxOffset - 1] {
            #expect(throws: StoreError.self) { try store.readRecord(atCommitLogOffset: offset) }
        }
        #expect(store.damage.count == 0)
        store.shutdown()
    }

    @Test func theScrubberReportsDamageInSealedSegmentsOnly() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let offsets = try await Self.cleanStore(directory.path, count: 600)
        #expect(offsets.last! > 2 * 64 * 1024, "several sealed segments")
        try Self.flip(directory.path, at: offsets[10] + 120)
        try Self.flip(directory.path, at: offsets.last! + 120)  // in the segment being written
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        let scrubber = CommitLogScrubber(bytesPerSecond: 1 << 30)
        var cursor: Int64 = 0
        var passes = 0
        while passes < 2 {
            let step = scrubber.scrub(store: store, from: cursor, budget: 16 * 1024)
            if step.passEnded { passes += 1 }
            cursor = step.next
        }
        #expect(store.damage.count == 1)
        #expect(store.damage.latest?.contains("at \(offsets[10]):") == true)
        let sealed = store.state.withLock { $0.commitLog.sealedOffset }
        #expect(store.scrubProgress.bytes >= 2 * (sealed - 8 * 1024), "two passes over the sealed segments")
        store.shutdown()
    }

    @Test func crashRecoveryEndsTheLogAtADamagedRecord() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let offsets = try await Self.cleanStore(directory.path, count: 6)
        // As after a crash before the ConsumeQueue was written: no queue files, an abort marker.
        _ = system("rm -rf '\(directory.path)/consumequeue' '\(directory.path)/index' '\(directory.path)/checkpoint'")
        try AtomicFile.write("0\n", to: directory.path + "/abort")
        try Self.flip(directory.path, at: offsets[2] + 90)
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        // Crash recovery keeps the valid prefix only: the damaged record ends the log.
        #expect(store.commitLogMaxOffset == offsets[2])
        #expect(store.maxOffsetInQueue("T", 0) == 2)
        store.shutdown()
    }

    @Test func aCleanRestartDispatchesPastADamagedRecordWithAHole() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let offsets = try await Self.cleanStore(directory.path, count: 6)
        // The queue lost its last four entries (as if never flushed), the CommitLog kept them.
        let queueFile = directory.path + "/consumequeue/T/0/00000000000000000000"
        #expect(truncate(queueFile, off_t(2 * ConsumeQueueEntry.size)) == 0)
        try Self.flip(directory.path, at: offsets[3] + 90)
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        #expect(store.maxOffsetInQueue("T", 0) == 6, "records after the damaged one are dispatched")
        let atHole = store.getMessage(topic: "T", queueId: 0, offset: 3, maxCount: 32, filter: nil)
        #expect(atHole.status == .messageDamaged && atHole.nextBeginOffset == 4)
        let rest = store.getMessage(topic: "T", queueId: 0, offset: 4, maxCount: 32, filter: nil)
        #expect(try Self.bodies(rest) == ["record-4-", "record-5-"])
        store.shutdown()
    }
}
