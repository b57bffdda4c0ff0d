import NIOCore

/// One 32-byte record of a DLedger index file (`dledger-design.md` §6.3); entry `i` lives at
/// logical offset `i × 32`, so a random read is one index lookup plus one data read.
///
/// ```
/// +-------+-----+------+-------+------+
/// | magic | pos | size | index | term |
/// |   4   |  8  |  4   |   8   |  8   |
/// +-------+-----+------+-------+------+
/// ```
public struct DLedgerIndexUnit: Sendable, Equatable {
    public static let size = 32

    public var magic: Int32
    public var pos: Int64
    public var entrySize: Int32
    public var index: Int64
    public var term: Int64

    public init(magic: Int32, pos: Int64, entrySize: Int32, index: Int64, term: Int64) {
        self.magic = magic
        self.pos = pos
        self.entrySize = entrySize
        self.index = index
        self.term = term
    }

    /// The index record of `entry`.
    public init(of entry: DLedgerEntry) {
        self.init(
            magic: entry.magic, pos: entry.pos, entrySize: Int32(entry.size), index: entry.index, term: entry.term)
    }

    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(magic)
        buffer.writeInteger(pos)
        buffer.writeInteger(entrySize)
        buffer.writeInteger(index)
        buffer.writeInteger(term)
    }

    /// Reads one unit from the front of `buffer`; nil (nothing consumed) when fewer than 32
    /// bytes are present. The caller cross-checks it against the data (`matches`).
    public static func read(from buffer: inout ByteBuffer) -> DLedgerIndexUnit? {
        guard let magic = buffer.getInteger(at: buffer.readerIndex, as: Int32.self),
            let pos = buffer.getInteger(at: buffer.readerIndex + 4, as: Int64.self),
            let entrySize = buffer.getInteger(at: buffer.readerIndex + 12, as: Int32.self),
            let index = buffer.getInteger(at: buffer.readerIndex + 16, as: Int64.self),
            let term = buffer.getInteger(at: buffer.readerIndex + 24, as: Int64.self)
        else { return nil }
        buffer.moveReaderIndex(forwardBy: size)
        return DLedgerIndexUnit(magic: magic, pos: pos, entrySize: entrySize, index: index, term: term)
    }

    /// Whether this unit describes `entry` (recovery's cross-check of index against data).
    public func matches(_ entry: DLedgerEntry) -> Bool { self == DLedgerIndexUnit(of: entry) }
}
