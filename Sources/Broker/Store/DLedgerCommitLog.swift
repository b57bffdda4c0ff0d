import DLedgerStore
import NIOCore
import Remoting
import Storage

/// The CommitLog in DLedger mode (`dledger-design.md` §10): each put is one DLedger entry whose
/// body is its records back to back, so a batch is never half visible. A record's physical
/// offset is its byte position in the DLedger data files (entry position + 48 for the first),
/// the same on every replica. Only committed bytes are dispatchable.
public struct DLedgerCommitLog: CommitLogStorage {
    public let server: DLedgerServer

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
        let writtenEnd = server.writtenEnd
        let fileSize = Int64(server.config.dataFileSize)
        var offset = offset
        while offset + 8 <= writtenEnd {
            let head = try server.read(offset: offset, count: 8)
            let first = head.getInteger(at: head.readerIndex, as: Int32.self)!
            let second = head.getInteger(at: head.readerIndex + 4, as: Int32.self)!
            if second == MessageExt.magicCode {
                guard first >= Int32(StoredMessageCodec.fixedLength), offset + Int64(first) <= writtenEnd else {
                    throw StoreError.corruptRecord(path: location(of: offset), offset: offset, reason: "size \(first)")
                }
                return (offset, try server.read(offset: offset, count: Int(first)))
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
