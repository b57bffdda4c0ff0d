import NIOCore
import Remoting
import Testing

@testable import Broker

/// A slave store fed from a master store's CommitLog in HA-sized chunks, without the network.
struct ReplicaStoreTests {
    /// Copies the master's log into the slave in chunks of `chunk` bytes; returns the slave's end.
    @discardableResult
    func replicate(_ master: MessageStore, into slave: MessageStore, chunk: Int) throws -> Int64 {
        var next = slave.commitLogMaxOffset == 0 ? master.commitLogMinOffset : slave.commitLogMaxOffset
        while let bytes = try master.replicaChunk(from: next, maxBytes: chunk) {
            next = try slave.appendReplica(bytes, at: next)
        }
        return next
    }

    /// A master store and a slave store, started, each in its own directory.
    func pair(segmentSize: Int = 64 * 1024) throws -> (MessageStore, MessageStore, [TemporaryDirectory]) {
        let directories = [TemporaryDirectory(), TemporaryDirectory()]
        let stores = directories.map {
            MessageStore(config: storeConfig($0.path, segmentSize: segmentSize), logger: testLogger) { _ in }
        }
        for store in stores { try store.start() }
        return (stores[0], stores[1], directories)
    }

    @Test func aSlaveFedInOddChunksHoldsAByteIdenticalLogAndServesEveryQueue() async throws {
        // Small segments: the log rolls (with fillers) several times.
        let (master, slave, directories) = try pair(segmentSize: 8 * 1024)
        defer { for directory in directories { directory.cleanup() } }
        for i in 0..<120 {
            let result = await master.putMessages([
                makeMessage("T", queueId: Int32(i % 3), body: String(repeating: "m\(i)", count: 20))
            ])
            #expect(result.status == .putOK)
            if i % 40 == 39 { try replicate(master, into: slave, chunk: 997) }
        }
        #expect(try replicate(master, into: slave, chunk: 997) == master.commitLogMaxOffset)
        let end = Int(master.commitLogMaxOffset)
        var offset: Int64 = 0
        while offset < Int64(end) {
            let mine = try master.replicaChunk(from: offset, maxBytes: 4096)!
            let theirs = try slave.replicaChunk(from: offset, maxBytes: 4096)!
            #expect(mine == theirs)
            offset += Int64(mine.readableBytes)
        }
        for queue in Int32(0)..<3 {
            #expect(slave.maxOffsetInQueue("T", queue) == 40)
            let read = slave.getMessage(topic: "T", queueId: queue, offset: 0, maxCount: 32, filter: nil)
            #expect(read.status == .found && read.messageCount == 32)
        }
    }

    @Test func bytesForAnotherOffsetAreRefusedAndBadBytesAreCutOff() async throws {
        let (master, slave, directories) = try pair()
        defer { for directory in directories { directory.cleanup() } }
        for i in 0..<3 { _ = await master.putMessages([makeMessage("T", body: "m\(i)")]) }
        let end = try replicate(master, into: slave, chunk: 100)
        #expect(throws: ReplicaError.offsetMismatch(expected: end, received: end + 1)) {
            try slave.appendReplica(ByteBuffer(bytes: [1, 2, 3]), at: end + 1)
        }
        // Bytes that are no record (a master whose log is not the one this slave copied).
        var garbage = ByteBuffer()
        garbage.writeInteger(Int32(200))
        garbage.writeInteger(Int32(0x1234_5678))
        garbage.writeRepeatingByte(7, count: 192)
        #expect(throws: ReplicaError.self) { try slave.appendReplica(garbage, at: end) }
        #expect(slave.commitLogMaxOffset == end)
        #expect(slave.maxOffsetInQueue("T", 0) == 3)
    }

    @Test func aPartialRecordWaitsForItsRest() async throws {
        let (master, slave, directories) = try pair()
        defer { for directory in directories { directory.cleanup() } }
        _ = await master.putMessages([makeMessage("T", body: String(repeating: "x", count: 300))])
        let first = try master.replicaChunk(from: 0, maxBytes: 50)!
        #expect(try slave.appendReplica(first, at: 0) == 50)
        #expect(slave.maxOffsetInQueue("T", 0) == 0)
        let rest = try master.replicaChunk(from: 50, maxBytes: 10_000)!
        _ = try slave.appendReplica(rest, at: 50)
        #expect(slave.maxOffsetInQueue("T", 0) == 1)
    }
}
