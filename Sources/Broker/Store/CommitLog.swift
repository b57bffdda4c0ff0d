import Common
import NIOCore
import Remoting
import Storage

/// The local CommitLog: one sequential log over fixed-size segments (`storePathCommitLog`).
///
/// A record that does not fit the rest of a segment is preceded by a filler
/// (`| size 4 | BLANK_MAGIC 4 |`, zeros after) that runs to the segment's end, so records never
/// straddle files — RocketMQ's layout.
public struct CommitLog: CommitLogStorage {
    public static let endFileMinBlankLength = 8
    var files: MappedFileQueue
    /// Where `appendPut` encodes records (kept to save an allocation per message).
    private var recordBuffer = ByteBuffer()

    public init(directory: String, segmentSize: Int) {
        // Records go through pwrite: through a mapping they measured no faster (docs/benchmarks.md).
        files = MappedFileQueue(directory: directory, fileSize: segmentSize)
    }

    public var maxOffset: Int64 { files.maxOffset }
    public var dispatchableOffset: Int64 { files.maxOffset }
    public var minOffset: Int64 { files.minOffset }
    public var flushedOffset: Int64 {
        guard let last = files.files.last(where: { $0.flushedPosition > 0 }) else { return files.minOffset }
        return last.fileFromOffset + Int64(last.flushedPosition)
    }
    public var segmentSize: Int { files.fileSize }

    public mutating func reserve(size: Int) throws -> Int64 {
        precondition(
            size + Self.endFileMinBlankLength <= files.fileSize, "record of \(size) bytes exceeds the segment size")
        var file = try files.lastFileForAppend()
        if size + Self.endFileMinBlankLength > file.remaining {
            var filler = ByteBuffer()
            filler.writeInteger(Int32(file.remaining))
            filler.writeInteger(MessageExt.blankMagicCode)
            filler.writeRepeatingByte(0, count: file.remaining - 8)
            try file.append(filler)
            file = try files.lastFileForAppend()
        }
        return file.fileFromOffset + Int64(file.wrotePosition)
    }

    public mutating func append(_ record: ByteBuffer, at offset: Int64) throws {
        let file = try files.lastFileForAppend()
        precondition(
            file.fileFromOffset + Int64(file.wrotePosition) == offset, "append at \(offset) is not the reserved offset")
        try file.append(record)
    }

    /// Record by record (a batch may roll to the next segment between records); the store
    /// truncates back when one fails.
    public mutating func appendPut(sizes: [Int], encode: (Int, Int64, inout ByteBuffer) throws -> Void) throws
        -> AppendedPut
    {
        var offsets: [Int64] = []
        offsets.reserveCapacity(sizes.count)
        for (index, size) in sizes.enumerated() {
            let offset = try reserve(size: size)
            // One buffer for every record: it is written out before the next is encoded.
            recordBuffer.clear()
            recordBuffer.reserveCapacity(size)
            try encode(index, offset, &recordBuffer)
            try append(recordBuffer, at: offset)
            offsets.append(offset)
        }
        return AppendedPut(offsets: offsets)
    }

    public var replication: (any ReplicatedLog)? { nil }

    public func read(offset: Int64, size: Int) throws -> ByteBuffer {
        try files.read(offset: offset, count: size)
    }

    public func nextRecord(at offset: Int64) throws -> (offset: Int64, record: ByteBuffer)? {
        var offset = offset
        while offset < maxOffset {
            guard let file = files.file(containing: offset) else { return nil }
            let position = Int(offset - file.fileFromOffset)
            guard position + 8 <= file.wrotePosition else {
                offset = file.fileFromOffset + Int64(files.fileSize)
                continue
            }
            var head = try file.read(at: position, count: 8)
            let size = Int(head.readInteger(as: Int32.self)!)
            let magic = head.readInteger(as: Int32.self)!
            if magic == MessageExt.blankMagicCode {
                offset = file.fileFromOffset + Int64(files.fileSize)
                continue
            }
            guard size > 0, position + size <= file.wrotePosition else {
                throw StoreError.corruptRecord(path: file.path, offset: offset, reason: "size \(size)")
            }
            return (offset, try file.read(at: position, count: size))
        }
        return nil
    }

    public func location(of offset: Int64) -> String {
        guard let file = files.file(containing: offset) else {
            return "\(files.directory) (no segment holds \(offset))"
        }
        return "\(file.path) (position \(offset - file.fileFromOffset))"
    }

    /// Where the sealed segments end: every segment but the one being written.
    public var sealedOffset: Int64 {
        files.files.dropLast().last.map { $0.fileFromOffset + Int64(files.fileSize) } ?? minOffset
    }

    public func flush() throws { try files.flush() }

    public mutating func truncate(to offset: Int64) throws {
        try files.truncateDirty(offset)
    }

    public mutating func deleteExpiredSegments(writtenBefore cutoffMillis: Int64?, maxFiles: Int, below limit: Int64)
        -> Int
    {
        let segmentSize = Int64(files.fileSize)
        return files.deleteLeading(maxCount: maxFiles) { file in
            file.fileFromOffset + segmentSize <= limit && (cutoffMillis.map { file.lastModifiedMillis < $0 } ?? true)
        }
    }

    /// Opens the segments and keeps the longest prefix of valid records (size, magic, lengths,
    /// body CRC) from `trustedOffset` on; a torn or corrupt tail is cut off (and zeroed). Data
    /// before `trustedOffset` was fsynced before a checkpoint recorded it and is not re-read.
    /// Returns the end of the valid data.
    @discardableResult
    public mutating func recover(trustedOffset: Int64 = 0) throws -> Int64 {
        try files.load()
        guard let first = files.files.first else { return 0 }
        var offset = first.fileFromOffset
        for file in files.files {
            if file.fileFromOffset != offset { break }  // a gap: nothing after it is trusted
            let segmentEnd = file.fileFromOffset + Int64(files.fileSize)
            if trustedOffset >= segmentEnd {
                offset = segmentEnd
                continue
            }
            let start = max(0, Int(trustedOffset - file.fileFromOffset))
            let end = try RecordScanner.validEnd(of: file, from: start)
            offset = file.fileFromOffset + Int64(end)
            if end < files.fileSize { break }
        }
        try files.truncateDirty(offset)
        return offset
    }

    /// After a clean stop: the checkpoint says where the data ends; nothing is scanned.
    /// False when the files do not reach that far (then recover instead).
    public mutating func load(end: Int64) throws -> Bool {
        try files.load()
        guard end >= files.minOffset, end <= files.maxOffset else { return false }
        try files.truncateDirty(end)
        return true
    }
}
