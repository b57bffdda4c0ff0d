import DLedgerStore
import NIOCore
import Remoting
import Storage
import Synchronization

/// The CommitLog in DLedger mode (`dledger-design.md` §10): each put is one DLedger entry whose
/// body is its records back to back, so a batch is never half visible. A record's physical
/// offset is its byte position in the DLedger data files (entry position + 48 for the first),
/// the same on every replica. Only committed bytes are dispatchable.
public struct DLedgerCommitLog: CommitLogStorage {
    public let server: DLedgerServer
    /// Committed bytes read ahead for dispatch, which walks them record by record.
    let readAhead = CommittedReadAhead()

    public init(server: DLedgerServer) { self.server = server }

    public mutating func appendPut(sizes: [Int], encode: (Int, Int64, inout ByteBuffer) throws -> Void) throws
        -> AppendedPut
    {
        let total = sizes.reduce(0, +)
        var offsets: [Int64] = []
        let entry = try server.append(bodySize: total) { base in
            var body = ByteBuffer()
            body.reserveCapacity(total)
            var offset = base
            for (index, size) in sizes.enumerated() {
                offsets.append(offset)
                try encode(index, offset, &body)
                offset += Int64(size)
            }
            return Array(body.readableBytesView)
        }
        return AppendedPut(offsets: offsets, entry: entry)
    }

    public var replication: (any ReplicatedLog)? { server }

    public func read(offset: Int64, size: Int) throws -> ByteBuffer {
        try server.read(offset: offset, count: size)
    }

    public var maxOffset: Int64 { server.writtenEnd }
    public var dispatchableOffset: Int64 { server.committed.reached }
    public var minOffset: Int64 { server.bounds.minOffset }
    /// The scrubber does not walk DLedger files yet: entries are CRC-checked on every replica read.
    public var sealedOffset: Int64 { server.bounds.minOffset }
    public var flushedOffset: Int64 { server.bounds.flushedEnd }

    /// Steps over entry headers (48 bytes), new leaders' no-op entries and end-of-file fillers
    /// to the next message record, as RocketMQ's `checkMessageAndReturnSize` does in DLedger mode.
    public func nextRecord(at offset: Int64) throws -> (offset: Int64, record: ByteBuffer)? {
        // Committed bytes never change (on any replica), so they come from one read of many
        // records; only what lies past the commit point is read where it is, with its bounds.
        let committedEnd = server.committed.reached
        var writtenEnd: Int64?
        func end(covering offset: Int64) -> Int64 {
            if offset <= committedEnd { return committedEnd }
            if writtenEnd == nil { writtenEnd = server.writtenEnd }
            return writtenEnd!
        }
        func bytes(at offset: Int64, count: Int) throws -> ByteBuffer {
            guard offset + Int64(count) <= committedEnd else { return try server.read(offset: offset, count: count) }
            return try readAhead.bytes(at: offset, count: count, below: committedEnd, from: server)
        }
        let fileSize = Int64(server.config.dataFileSize)
        var offset = offset
        while offset + 8 <= end(covering: offset + 8) {
            let head = try bytes(at: offset, count: 8)
            let first = head.getInteger(at: head.readerIndex, as: Int32.self)!
            let second = head.getInteger(at: head.readerIndex + 4, as: Int32.self)!
            if second == MessageExt.magicCode {
                let recordEnd = offset + Int64(first)
                guard first >= Int32(StoredMessageCodec.fixedLength), recordEnd <= end(covering: recordEnd) else {
                    throw StoreError.corruptRecord(path: location(of: offset), offset: offset, reason: "size \(first)")
                }
                return (offset, try bytes(at: offset, count: Int(first)))
            }
            switch first {
            case DLedgerEntry.magicNormal: offset += Int64(DLedgerEntry.headerSize)
            case DLedgerEntry.magicNoop where second >= Int32(DLedgerEntry.headerSize): offset += Int64(second)
            case DLedgerEntry.magicGap where second >= 8: offset += Int64(second)  // a restarted log's start
            case DLedgerEntry.magicBlank:
                offset = (offset / fileSize + 1) * fileSize
            case 0 where second == 0: return nil
            default:
                throw StoreError.corruptRecord(
                    path: location(of: offset), offset: offset, reason: "neither a DLedger entry nor a record")
            }
        }
        return nil
    }

    public func location(of offset: Int64) -> String {
        let size = Int64(server.config.dataFileSize)
        let start = offset - offset % size
        return "\(server.config.dataDirectory)/\(MappedFile.fileName(for: start)) (position \(offset - start))"
    }

    public func flush() throws { try server.flush() }

    /// A put is one entry, appended whole or not at all: there is never part of one to undo
    /// (and the log's tail belongs to Raft, which truncates only uncommitted follower entries).
    public mutating func truncate(to offset: Int64) throws {}

    /// Retention: whole data files below the commit point and the reput's progress go (never the
    /// last one), with the index files they alone referred to.
    public mutating func deleteExpiredSegments(writtenBefore cutoffMillis: Int64?, maxFiles: Int, below limit: Int64)
        -> Int
    {
        server.deleteExpiredFiles(writtenBefore: cutoffMillis, maxFiles: maxFiles, below: limit)
    }
}

/// A window of committed DLedger bytes, refilled with one read of up to `windowSize` bytes (never
/// past the commit point or a data file's end) when a request falls outside it.
final class CommittedReadAhead: Sendable {
    static let windowSize = 256 * 1024
    let window = Mutex<(start: Int64, bytes: ByteBuffer)?>(nil)

    func bytes(at offset: Int64, count: Int, below committedEnd: Int64, from server: DLedgerServer) throws
        -> ByteBuffer
    {
        try window.withLock { window throws -> ByteBuffer in
            if let (start, bytes) = window, offset >= start,
                offset + Int64(count) <= start + Int64(bytes.readableBytes),
                let slice = bytes.getSlice(at: bytes.readerIndex + Int(offset - start), length: count)
            {
                return slice
            }
            let fileSize = Int64(server.config.dataFileSize)
            let fileEnd = (offset / fileSize + 1) * fileSize
            let length = max(Int64(count), min(Int64(Self.windowSize), committedEnd - offset, fileEnd - offset))
            let bytes = try server.read(offset: offset, count: Int(length))
            window = (offset, bytes)
            return bytes.getSlice(at: bytes.readerIndex, length: count)!
        }
    }
}
