import Common
import NIOCore
import Remoting
import Storage

/// The CommitLog of a master/slave pair: the master reads raw byte ranges to stream, the slave
/// writes them at the same physical offsets (a byte-identical copy).
extension CommitLog {
    /// Up to `maxBytes` stored bytes from `offset`, never past the end of its segment (a frame
    /// never spans two files, so both sides roll segments at the same offsets).
    func chunk(from offset: Int64, maxBytes: Int) throws -> ByteBuffer? {
        let segmentSize = Int64(files.fileSize)
        let segmentEnd = offset - offset % segmentSize + segmentSize
        let count = min(Int64(maxBytes), maxOffset - offset, segmentEnd - offset)
        guard count > 0 else { return nil }
        return try files.read(offset: offset, count: Int(count))
    }

    /// Appends bytes the master sent for `offset`, which must be where this log ends (or, for an
    /// empty log, a segment start: a fresh slave begins where the master's log begins).
    mutating func appendReplica(_ bytes: ByteBuffer, at offset: Int64) throws(ReplicaError) {
        let end = maxOffset
        let empty = files.files.isEmpty
        guard offset == end || (empty && offset % Int64(files.fileSize) == 0) else {
            throw .offsetMismatch(expected: end, received: offset)
        }
        do {
            let file = try files.lastFileForAppend(startingAt: offset)
            guard bytes.readableBytes <= file.remaining else {
                throw ReplicaError.crossesSegment(
                    offset: offset, size: bytes.readableBytes, segmentSize: files.fileSize)
            }
            try file.append(bytes)
        } catch let error as ReplicaError {
            throw error
        } catch {
            throw .io("\(error)")
        }
    }

    /// How far, from `offset`, this log holds whole, valid records (and whole end-of-segment
    /// fillers). Bytes past it are a record still arriving, or damage: `problem` says which.
    func wholeRecordsEnd(from offset: Int64) throws -> (end: Int64, problem: String?) {
        var offset = offset
        let segmentSize = Int64(files.fileSize)
        while offset < maxOffset, let file = files.file(containing: offset) {
            let position = Int(offset - file.fileFromOffset)
            guard position + 8 <= file.wrotePosition else { break }
            var head = try file.read(at: position, count: 8)
            let size = Int(head.readInteger(as: Int32.self)!)
            let magic = head.readInteger(as: Int32.self)!
            if magic == MessageExt.blankMagicCode {
                guard Int64(size) == segmentSize - Int64(position) else {
                    return (offset, "an end-of-segment filler of \(size) bytes at position \(position)")
                }
                guard file.isFull else { break }
                offset = file.fileFromOffset + segmentSize
                continue
            }
            guard magic == MessageExt.magicCode, size >= StoredMessageCodec.fixedLength,
                Int64(position) + Int64(size) <= segmentSize
            else { return (offset, "no record starts here (size \(size), magic \(magic))") }
            guard position + size <= file.wrotePosition else { break }
            if let problem = RecordScanner.problem(in: try file.read(at: position, count: size)) {
                return (offset, problem)
            }
            offset += Int64(size)
        }
        return (offset, nil)
    }
}

/// Why a slave cannot take what its master sent.
public enum ReplicaError: Error, Equatable, CustomStringConvertible {
    case offsetMismatch(expected: Int64, received: Int64)
    case crossesSegment(offset: Int64, size: Int, segmentSize: Int)
    case diverged(at: Int64, reason: String)
    case notALocalCommitLog
    case io(String)

    public var description: String {
        switch self {
        case .offsetMismatch(let expected, let received):
            "the master sent bytes for offset \(received), but this CommitLog ends at \(expected)"
        case .crossesSegment(let offset, let size, let segmentSize):
            "\(size) bytes at \(offset) cross a segment end: mappedFileSizeCommitLog (\(segmentSize)) differs from the master's"
        case .diverged(let offset, let reason):
            "the replicated CommitLog is not a valid copy at offset \(offset) (\(reason)): this slave's log diverged from the master's"
        case .notALocalCommitLog: "master/slave replication needs the local CommitLog (not DLedger mode)"
        case .io(let error): "writing the replicated bytes failed: \(error)"
        }
    }
}
