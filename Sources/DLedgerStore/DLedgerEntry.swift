import Common
import NIOCore

/// One entry of a DLedger data file (`dledger-design.md` §6.2), the same bytes on disk and in a
/// push to a follower:
///
/// ```
/// +-------+------+-------+------+-----+---------+----------+---------+----------+--------+
/// | magic | size | index | term | pos | channel | chainCrc | bodyCrc | body len | body   |
/// |   4   |  4   |   8   |  8   |  8  |    4    |    4     |    4    |    4     | n      |
/// +-------+------+-------+------+-----+---------+----------+---------+----------+--------+
/// ```
///
/// `size` = 48 + n, `pos` = the entry's absolute byte position in the data files. DLedger never
/// fills `bodyCrc`; we store the CRC-32 of the body and check it on every read, so bit rot is
/// never served. `chainCrc` stays 0 (reserved, as in DLedger).
public struct DLedgerEntry: Sendable, Equatable {
    public static let headerSize = 48
    /// DLedger's `HEADER_SIZE`: up to, not including, the body-length word.
    public static let minimumSizeExclusive = 44
    public static let magicNormal: Int32 = 1
    /// An empty entry a new leader appends (DLedger master's NOOP).
    public static let magicNoop: Int32 = 2
    /// End-of-file filler: magic −1, then the bytes left in the file.
    public static let magicBlank: Int32 = -1
    /// [our format] The start of a log that restarted at a leader's first entry in the middle of a
    /// file: magic −2, then the bytes before that entry. Only ever at offset 0 of the first file.
    public static let magicGap: Int32 = -2
    /// The smallest filler: every append reserves this much behind it in its file.
    public static let minimumBlankSize = 8

    public var magic: Int32
    public var index: Int64
    public var term: Int64
    public var pos: Int64
    public var channel: Int32 = 0
    public var body: [UInt8]

    public init(magic: Int32 = Self.magicNormal, index: Int64, term: Int64, pos: Int64, body: [UInt8]) {
        self.magic = magic
        self.index = index
        self.term = term
        self.pos = pos
        self.body = body
    }

    public var size: Int { Self.headerSize + body.count }

    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(magic)
        buffer.writeInteger(Int32(size))
        buffer.writeInteger(index)
        buffer.writeInteger(term)
        buffer.writeInteger(pos)
        buffer.writeInteger(channel)
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(Int32(bitPattern: CRC32.checksum(body)))
        buffer.writeInteger(Int32(body.count))
        buffer.writeBytes(body)
    }

    public var bytes: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(size)
        write(into: &buffer)
        return buffer
    }

    /// Parses one entry from the front of `buffer`, checking every field against the bytes
    /// present, `maxSize` and the body CRC; nothing is consumed when it fails.
    public static func parse(from buffer: inout ByteBuffer, maxSize: Int) throws(DLedgerEntryError) -> DLedgerEntry {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= headerSize else {
            throw .truncated(needed: headerSize, have: buffer.readableBytes)
        }
        let header = buffer.getSlice(at: start, length: headerSize)!
        func field(_ offset: Int) -> Int32 { header.getInteger(at: offset, as: Int32.self)! }
        func wide(_ offset: Int) -> Int64 { header.getInteger(at: offset, as: Int64.self)! }
        let magic = field(0)
        guard magic == magicNormal || magic == magicNoop else { throw .badMagic(magic) }
        let size = Int(field(4))
        let bodyLength = Int(field(44))
        guard size > minimumSizeExclusive, size <= maxSize, bodyLength >= 0, size == headerSize + bodyLength else {
            throw .badSize(size: size, bodyLength: bodyLength)
        }
        guard buffer.readableBytes >= size else { throw .truncated(needed: size, have: buffer.readableBytes) }
        let index = wide(8)
        let term = wide(16)
        let pos = wide(24)
        guard index >= 0, term >= 0, pos >= 0 else { throw .badPosition(index: index, term: term, pos: pos) }
        let storedCRC = UInt32(bitPattern: field(40))
        let body = buffer.getBytes(at: start + headerSize, length: bodyLength)!
        guard CRC32.checksum(body) == storedCRC else { throw .bodyCRCMismatch(index: index) }
        var entry = DLedgerEntry(magic: magic, index: index, term: term, pos: pos, body: body)
        entry.channel = field(32)
        buffer.moveReaderIndex(forwardBy: size)
        return entry
    }
}

public enum DLedgerEntryError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(needed: Int, have: Int)
    case badMagic(Int32)
    case badSize(size: Int, bodyLength: Int)
    case badPosition(index: Int64, term: Int64, pos: Int64)
    case bodyCRCMismatch(index: Int64)

    public var description: String {
        switch self {
        case .truncated(let needed, let have): "entry needs \(needed) bytes, \(have) present"
        case .badMagic(let magic): "unknown entry magic \(magic)"
        case .badSize(let size, let bodyLength): "entry size \(size) does not match body length \(bodyLength)"
        case .badPosition(let index, let term, let pos): "entry index \(index), term \(term), pos \(pos) out of range"
        case .bodyCRCMismatch(let index): "body CRC of entry \(index) does not match"
        }
    }
}
