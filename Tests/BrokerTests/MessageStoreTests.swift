import Common
import NIOCore
import Remoting
import Storage
import Testing

@testable import Broker

#if canImport(Glibc)
    import Glibc
#endif

struct MessageStoreTests {
    @Test func putAssignsQueueOffsetsAndReadsBackWithTagFilter() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        for i in 0..<6 {
            let result = await store.putMessages([makeMessage("T", body: "m\(i)", tag: i % 2 == 0 ? "A" : "B")])
            #expect(result.status == .putOK && result.appended[0].queueOffset == Int64(i))
        }
        #expect(store.maxOffsetInQueue("T", 0) == 6 && store.minOffsetInQueue("T", 0) == 0)
        let onlyA = store.getMessage(
            topic: "T", queueId: 0, offset: 0, maxCount: 32, filter: SubscriptionExpression("A"))
        #expect(onlyA.status == .found && onlyA.messageCount == 3 && onlyA.nextBeginOffset == 6)
        let bodies = try StoredMessageCodec.decodeAll(onlyA.messages).map { String(decoding: $0.body, as: UTF8.self) }
        #expect(bodies == ["m0", "m2", "m4"])
        let none = store.getMessage(topic: "T", queueId: 0, offset: 1, maxCount: 1, filter: SubscriptionExpression("C"))
        #expect(none.status == .noMatchedMessage && none.nextBeginOffset > 1)
    }

    @Test func pullStatusesFollowTheDecisionTable() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        #expect(
            store.getMessage(topic: "T", queueId: 0, offset: 0, maxCount: 1, filter: nil).status == .noMatchedLogicQueue
        )
        _ = await store.putMessages([makeMessage("T", body: "x")])
        let overflowOne = store.getMessage(topic: "T", queueId: 0, offset: 1, maxCount: 1, filter: nil)
        #expect(overflowOne.status == .offsetOverflowOne && overflowOne.nextBeginOffset == 1)
        let badly = store.getMessage(topic: "T", queueId: 0, offset: 9, maxCount: 1, filter: nil)
        #expect(badly.status == .offsetOverflowBadly && badly.nextBeginOffset == 1)
        #expect(PullMessageProcessor.responseCode(for: overflowOne, requestedOffset: 1) == ResponseCode.pullNotFound)
        #expect(PullMessageProcessor.responseCode(for: badly, requestedOffset: 9) == ResponseCode.pullOffsetMoved)
    }

    @Test func commitLogRollsToNewSegmentsWithAFiller() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let store = MessageStore(config: storeConfig(directory.path, segmentSize: 4096), logger: testLogger) { _ in }
        try store.start()
        let body = String(repeating: "x", count: 900)
        var offsets: [Int64] = []
        for i in 0..<10 {
            let result = await store.putMessages([makeMessage("T", body: body + "\(i)")])
            offsets.append(result.appended[0].commitLogOffset)
        }
        #expect(offsets.allSatisfy { $0 % 4096 + 1000 <= 4096 }, "no record straddles a segment")
        #expect(Set(offsets.map { $0 / 4096 }).count >= 3)
        #expect(Directories.list(directory.path + "/commitlog").first == "00000000000000000000")
        let all = store.getMessage(topic: "T", queueId: 0, offset: 0, maxCount: 32, filter: nil)
        #expect(all.messageCount == 10)
        let bodies = try StoredMessageCodec.decodeAll(all.messages).map { String(decoding: $0.body, as: UTF8.self) }
        #expect(bodies == (0..<10).map { body + "\($0)" })
    }

    @Test func pullsReadAdjacentAndInterleavedRecordsAlike() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let store = MessageStore(config: storeConfig(directory.path, segmentSize: 64 * 1024), logger: testLogger) { _ in
        }
        try store.start()
        for i in 0..<40 {
            _ = await store.putMessages([makeMessage("A", body: "a\(i)")])  // 40 adjacent records in queue A/0
            if i % 3 == 0 { _ = await store.putMessages([makeMessage("B", body: "b\(i)")]) }  // A/0 runs broken by B
        }
        for _ in 0..<5 { _ = await store.putMessages([makeMessage("C", body: "c")]) }
        for (topic, expected) in [
            ("A", (0..<40).map { "a\($0)" }), ("B", stride(from: 0, to: 40, by: 3).map { "b\($0)" }),
        ] {
            var offset: Int64 = 0
            var bodies: [String] = []
            while true {
                let result = store.getMessage(topic: topic, queueId: 0, offset: offset, maxCount: 16, filter: nil)
                guard result.status == .found else { break }
                bodies += try StoredMessageCodec.decodeAll(result.messages).map {
                    String(decoding: $0.body, as: UTF8.self)
                }
                offset = result.nextBeginOffset
            }
            #expect(bodies == expected, "\(topic)")
        }
    }

    @Test func restartRecoversMessagesAndTruncatesATornTail() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        do {
            let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
            try store.start()
            // Not flushed: the tail below may be torn (fsynced data is trusted by the checkpoint).
            for i in 0..<5 { _ = await store.putMessages([makeMessage("T", queueId: Int32(i % 2), body: "m\(i)")]) }
        }
        // Tear the last record: keep only half of it in the CommitLog.
        let segment = directory.path + "/commitlog/00000000000000000000"
        let file = try MappedFile(directory: directory.path + "/commitlog", fileFromOffset: 0, fileSize: 64 * 1024)
        var size = try file.read(at: 0, count: 4)
        let recordSize = Int(size.readInteger(as: Int32.self)!)
        try file.truncate(to: recordSize * 4 + recordSize / 2)
        _ = segment
        let reopened = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try reopened.start()
        #expect(reopened.maxOffsetInQueue("T", 0) == 2, "queue 0 lost its torn third message")
        #expect(reopened.maxOffsetInQueue("T", 1) == 2)
        #expect(reopened.commitLogMaxOffset == Int64(recordSize * 4))
        let next = await reopened.putMessages([makeMessage("T", queueId: 0, body: "m5")])
        #expect(next.appended[0].queueOffset == 2 && next.appended[0].commitLogOffset == Int64(recordSize * 4))
    }

    @Test func lostConsumeQueueEntriesAreRebuiltFromTheCommitLog() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        do {
            let store = MessageStore(config: storeConfig(directory.path, entriesPerFile: 4), logger: testLogger) { _ in
            }
            try store.start()
            for i in 0..<7 { _ = await store.putMessages([makeMessage("T", body: "m\(i)")]) }
        }
        _ = system("rm -rf '\(directory.path)/consumequeue/T/0/00000000000000000080'")
        let reopened = MessageStore(config: storeConfig(directory.path, entriesPerFile: 4), logger: testLogger) { _ in }
        try reopened.start()
        #expect(reopened.maxOffsetInQueue("T", 0) == 7)
        let all = reopened.getMessage(topic: "T", queueId: 0, offset: 0, maxCount: 32, filter: nil)
        #expect(try StoredMessageCodec.decodeAll(all.messages).map(\.queueOffset) == Array(0..<7))
    }

    @Test func searchOffsetByTimeFindsTheFirstMessageAtOrAfter() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        for i in 0..<10 {
            var message = makeMessage("T", body: "m\(i)")
            message.storeTimestamp = Int64(1000 + i * 10)
            _ = await store.putMessages([message])
        }
        #expect(try store.offsetInQueue(byTime: 1000, "T", 0) == 0)
        #expect(try store.offsetInQueue(byTime: 1035, "T", 0) == 4)
        #expect(try store.offsetInQueue(byTime: 5000, "T", 0) == 10)
        #expect(try store.storeTime("T", 0, at: 3) == 1030)
    }

    @Test func delayedMessagesStoreDeliveryTimeInTheTagSlot() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        var parked = makeMessage(SystemTopics.schedule, queueId: 1, body: "later")
        parked.properties[MessageConst.delayTimeLevel] = "2"
        parked.properties[MessageConst.realTopic] = "Real"
        parked.properties[MessageConst.realQueueId] = "3"
        _ = await store.putMessages([parked])
        let entry = try #require(try store.consumeQueueEntry(SystemTopics.schedule, 1, at: 0))
        #expect(entry.tagsCode == Int64(1_000 + 5_000))
        let restored = ScheduleMessageService.restore(parked, now: 9_999)
        #expect(restored.topic == "Real" && restored.queueId == 3 && restored.delayLevel == 0)
    }
}
