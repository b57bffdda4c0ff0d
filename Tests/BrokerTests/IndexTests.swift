import Common
import NIOCore
import Remoting
import Testing

@testable import Broker

struct IndexTests {
    @Test func indexFileChainsCollidingKeysAndFiltersByTime() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try IndexFile(path: directory.path + "/20260101000000000", slotCount: 4, entryCount: 100)
        for i in 0..<40 {
            #expect(
                try file.put(
                    hash: IndexFile.keyHash(topic: "T", key: "k\(i % 10)"), phyOffset: Int64(i * 100),
                    storeTimestamp: 1_000_000 + Int64(i) * 1000))
        }
        #expect(file.select(key: "T#k3", beginMillis: 0, endMillis: .max, maxCount: 10) == [3300, 2300, 1300, 300])
        #expect(file.select(key: "T#k3", beginMillis: 1_020_000, endMillis: .max, maxCount: 10) == [3300, 2300])
        #expect(file.select(key: "T#k3", beginMillis: 0, endMillis: .max, maxCount: 1) == [3300])
        #expect(file.select(key: "T#none", beginMillis: 0, endMillis: .max, maxCount: 10).isEmpty)
        #expect(file.beginPhyOffset == 0 && file.endPhyOffset == 3900 && file.indexCount == 41)
    }

    /// The store hashes `topic` and `key` as if joined by `#` (RocketMQ's index key), without
    /// joining them; queries hash the joined string.
    @Test func topicAndKeyHashAsTheirJoinedString() {
        for (topic, key) in [
            ("T", "k"), ("TopicTest", "ORDER-0001"), ("话题", "ключ 🔑"), ("", ""),
            ("t", String(repeating: "z", count: 300)),
        ] {
            #expect(IndexFile.keyHash(topic: topic, key: key[...]) == IndexFile.keyHash(topic + "#" + key))
        }
        #expect(IndexFile.keyHash("TopicTest#ORDER-0001") >= 0)
    }

    @Test func indexFileReservesSpaceAsEntriesGrowAndAcrossReopening() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.path + "/20260101000000000"
        let count = 2 * IndexFile.allocationChunkBytes / IndexFile.entrySize  // entries span several chunks
        do {
            let file = try IndexFile(path: path, slotCount: 1000, entryCount: count + 10)
            for i in 0..<count / 2 {
                #expect(
                    try file.put(hash: IndexFile.keyHash("T#k\(i)"), phyOffset: Int64(i), storeTimestamp: 1_000_000))
            }
        }
        let file = try IndexFile(path: path, slotCount: 1000, entryCount: count + 10)
        for i in count / 2..<count {
            #expect(try file.put(hash: IndexFile.keyHash("T#k\(i)"), phyOffset: Int64(i), storeTimestamp: 1_000_000))
        }
        try file.flush()
        for i in stride(from: 0, to: count, by: 9973) {
            #expect(file.select(key: "T#k\(i)", beginMillis: 0, endMillis: .max, maxCount: 4) == [Int64(i)])
        }
        #expect(file.indexCount == Int32(count + 1))
    }

    @Test func indexFileNamesAreUTCTimestamps() {
        #expect(IndexService.fileName(millis: 0) == "19700101000000000")
        #expect(IndexService.fileName(millis: 1_795_307_562_123) == "20261122003242123")
    }

    @Test func queriesByKeyAndUniqueIdSurviveRestartsAndRollOverFiles() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        var offsets: [String: Int64] = [:]
        do {
            let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
            try store.start()
            for i in 0..<60 {  // 120 index entries: more than one file of 50
                var message = makeMessage("T", body: "m\(i)")
                message.properties[MessageConst.keys] = "order\(i % 5) k\(i)"
                message.properties[MessageConst.uniqueKey] = "UNIQ\(i)"
                let result = await store.putMessages([message])
                offsets["UNIQ\(i)"] = result.appended[0].commitLogOffset
            }
            store.shutdown()
        }
        #expect(Directories.list(directory.path + "/index").count == 4, "180 entries, 49 per file")
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        let byKey = try store.queryMessages(
            topic: "T", key: "order2", maxCount: 100, beginMillis: 0, endMillis: .max, uniqueKeyOnly: false)
        let bodies = try StoredMessageCodec.decodeAll(byKey.messages).map { String(decoding: $0.body, as: UTF8.self) }
        #expect(Set(bodies) == Set(stride(from: 2, to: 60, by: 5).map { "m\($0)" }))
        let byId = try store.queryMessages(
            topic: "T", key: "UNIQ42", maxCount: 32, beginMillis: 0, endMillis: .max, uniqueKeyOnly: true)
        let found = try StoredMessageCodec.decodeAll(byId.messages)
        #expect(found.map(\.commitLogOffset) == [offsets["UNIQ42"]!])
        #expect(
            try store.queryMessages(
                topic: "Other", key: "k1", maxCount: 32, beginMillis: 0, endMillis: .max, uniqueKeyOnly: false
            ).count == 0)
        // New messages after the restart are indexed too.
        var later = makeMessage("T", body: "later")
        later.properties[MessageConst.keys] = "order2"
        _ = await store.putMessages([later])
        #expect(
            try store.queryMessages(
                topic: "T", key: "order2", maxCount: 100, beginMillis: 0, endMillis: .max, uniqueKeyOnly: false
            ).count == 13)
    }

    @Test func aLostIndexIsRebuiltFromTheCommitLog() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        do {
            let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
            try store.start()
            for i in 0..<10 {
                var message = makeMessage("T", body: "m\(i)")
                message.properties[MessageConst.keys] = "key\(i)"
                _ = await store.putMessages([message])
            }
        }
        _ = Directories.list(directory.path + "/index").map { unlink(directory.path + "/index/" + $0) }
        let store = MessageStore(config: storeConfig(directory.path), logger: testLogger) { _ in }
        try store.start()
        #expect(
            try store.queryMessages(
                topic: "T", key: "key7", maxCount: 32, beginMillis: 0, endMillis: .max, uniqueKeyOnly: false
            ).count == 1)
        #expect(store.maxOffsetInQueue("T", 0) == 10, "re-dispatch added no duplicate queue entries")
    }
}

#if canImport(Glibc)
    import Glibc
#endif
