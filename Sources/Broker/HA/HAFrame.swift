import NIOCore

/// RocketMQ 4.x's master/slave HA wire format: raw TCP, no remoting frames.
///
/// - slave → master: an 8-byte big-endian offset, again and again. The first is where the slave's
///   CommitLog ends (where to start); later ones acknowledge how far it has stored.
/// - master → slave: `| start physical offset 8 | body size 4 | body |`, the body being raw
///   CommitLog bytes from that offset; a size of 0 is a heartbeat.
///
/// One extension, ignored by nothing RocketMQ sends: a master that cannot continue a slave's log
/// sends a header with offset `divergedMarker` before it closes, so the slave stops instead of
/// reconnecting forever.
public enum HAFrame {
    public static let reportLength = 8
    public static let headerLength = 12
    /// "Your log is not a prefix of mine": the slave must stop.
    public static let divergedMarker: Int64 = -1

    public struct Header: Sendable, Equatable {
        public var offset: Int64
        public var size: Int32
        public init(offset: Int64, size: Int32) {
            self.offset = offset
            self.size = size
        }
    }

    public static func report(_ offset: Int64) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(offset)
        return buffer
    }

    /// A transfer frame: header and body in one buffer (the body's readable bytes).
    public static func transfer(offset: Int64, body: ByteBuffer?) -> ByteBuffer {
        let size = body?.readableBytes ?? 0
        var buffer = ByteBuffer()
        buffer.reserveCapacity(headerLength + size)
        buffer.writeInteger(offset)
        buffer.writeInteger(Int32(size))
        if var body { buffer.writeBuffer(&body) }
        return buffer
    }
}

/// Why the other side of an HA connection is not speaking the protocol.
public enum HAProtocolError: Error, Equatable, CustomStringConvertible {
    case negativeOffset(Int64)
    case badFrameSize(Int32, limit: Int)

    public var description: String {
        switch self {
        case .negativeOffset(let offset): "offset \(offset) is negative"
        case .badFrameSize(let size, let limit): "frame body size \(size) is outside 0...\(limit)"
        }
    }
}

/// The master's read side: keeps only the latest complete report (RocketMQ reads the last whole
/// long in its buffer); leftover bytes wait for the rest.
public struct HAReportReader: Sendable {
    var pending = ByteBuffer()

    public init() {}

    /// Takes received bytes; returns the latest complete report in them, if any.
    public mutating func receive(_ bytes: inout ByteBuffer) throws(HAProtocolError) -> Int64? {
        pending.writeBuffer(&bytes)
        var latest: Int64?
        while let offset = pending.readInteger(as: Int64.self) {
            guard offset >= 0 else { throw .negativeOffset(offset) }
            latest = offset
        }
        pending.discardReadBytes()
        return latest
    }
}

/// The slave's read side: cuts the stream into transfer frames, refusing a body size that is
/// negative or larger than `maxBodySize` (so a hostile peer cannot make it buffer without bound).
public struct HATransferReader: Sendable {
    public let maxBodySize: Int
    var pending = ByteBuffer()

    public init(maxBodySize: Int) { self.maxBodySize = maxBodySize }

    public mutating func receive(_ bytes: inout ByteBuffer) { pending.writeBuffer(&bytes) }

    /// The next complete frame, or nil until more bytes arrive.
    public mutating func next() throws(HAProtocolError) -> (header: HAFrame.Header, body: ByteBuffer)? {
        guard pending.readableBytes >= HAFrame.headerLength,
            let offset = pending.getInteger(at: pending.readerIndex, as: Int64.self),
            let size = pending.getInteger(at: pending.readerIndex + 8, as: Int32.self)
        else { return nil }
        guard size >= 0, Int(size) <= maxBodySize else { throw .badFrameSize(size, limit: maxBodySize) }
        guard offset >= 0 || (offset == HAFrame.divergedMarker && size == 0) else { throw .negativeOffset(offset) }
        guard pending.readableBytes >= HAFrame.headerLength + Int(size) else { return nil }
        pending.moveReaderIndex(forwardBy: HAFrame.headerLength)
        let body = pending.readSlice(length: Int(size))!
        if pending.readableBytes == 0 {
            pending.clear()
        } else if pending.readerIndex > 1 << 20 {
            pending.discardReadBytes()
        }
        return (HAFrame.Header(offset: offset, size: size), body)
    }
}
