import Common
import NIOCore
import Remoting
import Storage

/// Validates CommitLog records in large sequential reads (recovery must read a 1 GiB log in
/// seconds): size bounds, magic code, the lengths inside the record, the body CRC and the
/// whole-record checksum.
public struct RecordScanner {
    static let chunkSize = 8 * 1024 * 1024

    /// Where the valid records of `file` end, scanning from `position`: the segment size when it
    /// ends with the blank filler, else the first byte not covered by a valid record.
    static func validEnd(of file: MappedFile, from position: Int) throws -> Int {
        var position = position
        var chunk = ByteBuffer()
        var chunkStart = 0
        func bytes(at start: Int, count: Int) throws -> ByteBuffer? {
            guard start + count <= file.fileSize else { return nil }
            if start < chunkStart || start + count > chunkStart + chunk.readableBytes {
                chunkStart = start
                chunk = try file.read(at: start, count: min(file.fileSize - start, max(chunkSize, count)))
            }
            return chunk.getSlice(at: chunk.readerIndex + start - chunkStart, length: count)
        }
        while position + 8 <= file.fileSize {
            guard var head = try bytes(at: position, count: 8) else { break }
            let size = Int(head.readInteger(as: Int32.self)!)
            let magic = head.readInteger(as: Int32.self)!
            if magic == MessageExt.blankMagicCode, size == file.fileSize - position { return file.fileSize }
            guard magic == MessageExt.magicCode, size >= StoredMessageCodec.fixedLength,
                position + size <= file.fileSize,
                let record = try bytes(at: position, count: size), isValid(record)
            else { break }
            position += size
        }
        return position
    }

    /// Checks one record's internal lengths, its body CRC and its record checksum without decoding it.
    static func isValid(_ record: ByteBuffer) -> Bool { problem(in: record) == nil }

    /// What is wrong with one record (its size word, magic code, internal lengths, body CRC and
    /// whole-record checksum), or nil when it is intact. The record checksum covers every byte
    /// before it, the body and its CRC field included, so reads (`checkingBodyCRC: false`) skip
    /// the second pass over the body; recovery and the scrubber check both.
    public static func problem(in record: ByteBuffer, checkingBodyCRC: Bool = true) -> String? {
        let base = record.readerIndex
        let size = record.readableBytes
        guard size >= StoredMessageCodec.fixedLength, record.getInteger(at: base, as: Int32.self) == Int32(size) else {
            return "size word does not match the record's \(size) bytes"
        }
        guard record.getInteger(at: base + 4, as: Int32.self) == MessageExt.magicCode else { return "bad magic code" }
        guard let crc = record.getInteger(at: base + 8, as: Int32.self),
            let bodyLength = record.getInteger(at: base + 84, as: Int32.self), bodyLength >= 0,
            88 + Int(bodyLength) + 1 <= size,
            let topicLength = record.getInteger(at: base + 88 + Int(bodyLength), as: UInt8.self),
            88 + Int(bodyLength) + 1 + Int(topicLength) + 2 <= size,
            let propertiesLength = record.getInteger(
                at: base + 89 + Int(bodyLength) + Int(topicLength), as: Int16.self),
            propertiesLength >= 0, 91 + Int(bodyLength) + Int(topicLength) + Int(propertiesLength) == size
        else { return "inner lengths do not add up to the record's \(size) bytes" }
        let body = record.getSlice(at: base + 88, length: Int(bodyLength))!
        guard !checkingBodyCRC || CRC32.masked(body.readableBytesView) == crc else { return "body CRC mismatch" }
        guard StoredMessageCodec.hasValidRecordCRC(record) else { return "record checksum mismatch" }
        return nil
    }
}
