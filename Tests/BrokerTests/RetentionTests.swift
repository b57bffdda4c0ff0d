import Common
import NIOCore
import Remoting
import Testing

@testable import Broker

struct RetentionTests {
    @Test func expiredSegmentsGoWithTheirQueueEntriesAndMinOffsetsMove() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let store = MessageStore(
            config: storeConfig(directory.path, segmentSize: 4096, entriesPerFile: 4), logger: testLogger
        ) { _ in }
        try store.start()
        let body = String(repeating: "r", count: 900)
        for i in 0..<20 {
            var message = makeMessage("T", queueId: Int32(i % 2), body: body + "\(i)")
            message.properties[MessageConst.keys] = "k\(i)"
            _ = await store.putMessages([message])
        }
        let segmentsBefore = Directories.list(directory.path + "/commitlog").count
        #expect(segmentsBefore >= 5)
        // A cutoff in the past keeps everything.
        #expect(store.cleanExpiredFiles(writtenBefore: 0) == MessageStore.CleanResult())
        // Forced: the two oldest segments go (at most two per round here).
        let result = store.cleanExpiredFiles(writtenBefore: nil, maxFiles: 2)
        #expect(result.commitLogFiles == 2)
        #expect(Directories.list(directory.path + "/commitlog").count == segmentsBefore - 2)
        let commitLogMin = store.commitLogMinOffset
        #expect(commitLogMin == 2 * 4096)
        for queue in Int32(0)...1 {
            let minimum = store.minOffsetInQueue("T", queue)
            #expect(minimum > 0)
            let entry = try #require(try store.consumeQueueEntry("T", queue, at: minimum))
            #expect(entry.commitLogOffset >= commitLogMin, "the min offset points at data that still exists")
            // A consumer below the minimum is moved up.
            let stale = store.getMessage(topic: "T", queueId: queue, offset: 0, maxCount: 32, filter: nil)
            #expect(stale.status == .offsetTooSmall && stale.nextBeginOffset == minimum)
            #expect(PullMessageProcessor.responseCode(for: stale, requestedOffset: 0) == ResponseCode.pullOffsetMoved)
            let fresh = store.getMessage(topic: "T", queueId: queue, offset: minimum, maxCount: 32, filter: nil)
            #expect(fresh.status == .found)
        }
        // Cleaning never deletes the segment being written.
        _ = store.cleanExpiredFiles(writtenBefore: nil, maxFiles: 100)
        #expect(Directories.list(directory.path + "/commitlog").count == 1)
        let next = await store.putMessages([makeMessage("T", body: "still writable")])
        #expect(next.status == .putOK)
    }

    @Test func diskFullRefusesWritesUntilSpaceIsFreed() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        _ = await store.putMessages([makeMessage("T", body: "before")])
        store.setWritesBlocked("disk full")
        let refused = await store.putMessages([makeMessage("T", body: "refused")])
        #expect(refused.status == .serviceNotAvailable("disk full"))
        #expect(store.getMessage(topic: "T", queueId: 0, offset: 0, maxCount: 32, filter: nil).messageCount == 1)
        store.setWritesBlocked(nil)
        #expect(await store.putMessages([makeMessage("T", body: "after")]).status == .putOK)
    }

    @Test func retentionKeysAreValidated() throws {
        let config = try BrokerConfig(properties: ["brokerName": "b", "deleteWhen": "04;16", "fileReservedTime": "48"])
        #expect(config.deleteWhen == [4, 16] && config.fileReservedTime == 48)
        #expect(throws: ConfigError.self) { try BrokerConfig(properties: ["brokerName": "b", "deleteWhen": "25"]) }
        #expect(throws: ConfigError.self) {
            try BrokerConfig(properties: ["brokerName": "b", "diskSpaceWarningLevelRatio": "1.5"])
        }
    }
}
