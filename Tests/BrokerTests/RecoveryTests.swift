import Common
import NIOCore
import Remoting
import Storage
import Testing

@testable import Broker

#if canImport(Glibc)
    import Glibc
#endif

/// Crash recovery keeps exactly the valid prefix of the CommitLog.
struct RecoveryTests {
    /// Writes `count` records of varied sizes without a clean stop; returns each record's start offset.
    static func writeUncleanStore(_ directory: String, count: Int, seed: UInt64) async throws -> [Int64] {
        let store = MessageStore(config: storeConfig(directory, segmentSize: 64 * 1024), logger: testLogger) { _ in }
        try store.start()
        var rng = SeededBytes(seed: seed)
        var offsets: [Int64] = []
        for i in 0..<count {
            let body = String(repeating: "b", count: 10 + Int(rng.next() % 300))
            let result = await store.putMessages([makeMessage("T", queueId: Int32(i % 3), body: body + "\(i)")])
            offsets.append(result.appended[0].commitLogOffset)
        }
        offsets.append(store.commitLogMaxOffset)
        return offsets  // no shutdown(): the abort file stays, as after a crash
    }

    enum Damage: CaseIterable { case cut, flip }

    @Test(arguments: Damage.allCases, Array(UInt64(1)...25))
    func crashRecoveryKeepsExactlyTheValidPrefix(damage: Damage, seed: UInt64) async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let offsets = try await Self.writeUncleanStore(directory.path, count: 120, seed: seed)
        let end = offsets.last!
        // The damage lands in the last segment, at a random byte.
        let lastSegmentStart = end - end % (64 * 1024)
        var rng = SeededBytes(seed: seed &* 31)
        let position = lastSegmentStart + Int64(rng.next() % UInt64(end - lastSegmentStart))
        let segment = try MappedFile(
            directory: directory.path + "/commitlog", fileFromOffset: lastSegmentStart, fileSize: 64 * 1024)
        switch damage {
        case .cut:
            try segment.truncate(to: Int(position - lastSegmentStart))
        case .flip:
            var byte = try segment.read(at: Int(position - lastSegmentStart), count: 1)
            let value = byte.readInteger(as: UInt8.self)! ^ UInt8(1 << (rng.next() % 8))
            _ = pwrite(segment.fd.rawValue, [value], 1, off_t(position - lastSegmentStart))
        }
        // The valid prefix ends where the damaged record starts.
        let damagedRecordStart = offsets.last { $0 <= position }!
        let survivors = offsets.firstIndex(of: damagedRecordStart)!
        let reopened = MessageStore(config: storeConfig(directory.path, segmentSize: 64 * 1024), logger: testLogger) {
            _ in
        }
        try reopened.start()
        #expect(reopened.commitLogMaxOffset == damagedRecordStart)
        let kept = (0..<3).map { reopened.maxOffsetInQueue("T", Int32($0)) }.reduce(0, +)
        #expect(kept == Int64(survivors), "the ConsumeQueues hold exactly the surviving records")
        // And the store keeps working from there.
        let next = await reopened.putMessages([makeMessage("T", body: "after")])
        #expect(next.status == .putOK && next.appended[0].commitLogOffset == damagedRecordStart)
    }

    @Test func cleanRestartTrustsTheCheckpointWithoutScanning() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        for i in 0..<10 { _ = await store.putMessages([makeMessage("T", body: "m\(i)")]) }
        store.shutdown()
        #expect(!Directories.exists(directory.path + "/abort"))
        // Flip a body byte of the first record: a scan would cut everything; a clean restart does not look.
        let segment = try MappedFile(directory: directory.path + "/commitlog", fileFromOffset: 0, fileSize: 64 * 1024)
        _ = pwrite(segment.fd.rawValue, [UInt8(ascii: "X")], 1, 88)
        let reopened = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try reopened.start()
        #expect(reopened.maxOffsetInQueue("T", 0) == 10)
        #expect(Directories.exists(directory.path + "/abort"), "running again: the marker is back")
    }
}

/// Seeded bytes for reproducible damage.
struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
