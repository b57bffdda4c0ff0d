import NIOCore

/// Why a frame could not be read. Any of these closes the connection (with a log line).
public enum RemotingDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    case frameTooLarge(length: Int, limit: Int)
    case frameTooShort(length: Int)
    case headerLengthOutOfRange(headerLength: Int, frameLength: Int)
    case unknownSerializeType(UInt8)
    case badJSONHeader(String)
    case badBinaryHeader(String)
    case partialFrameBudgetExceeded(heldBytes: Int, budgetBytes: Int)

    public var description: String {
        switch self {
        case .frameTooLarge(let length, let limit): "frame of \(length) bytes exceeds the limit of \(limit)"
        case .frameTooShort(let length): "frame length \(length) is shorter than its header-length word"
        case .headerLengthOutOfRange(let header, let frame):
            "header length \(header) does not fit frame length \(frame)"
        case .unknownSerializeType(let type): "unknown serialization type \(type)"
        case .badJSONHeader(let reason): "bad JSON header: \(reason)"
        case .badBinaryHeader(let reason): "bad ROCKETMQ header: \(reason)"
        case .partialFrameBudgetExceeded(let held, let budget):
            "unfinished frames of all connections hold \(held) bytes, over the budget of \(budget), and this connection holds more than its share"
        }
    }
}

extension RemotingCommand {
    public static let defaultMaxFrameLength = 16 * 1024 * 1024

    /// One frame if `buffer` holds a whole one; `nil` and nothing consumed otherwise.
    ///
    /// ```
    /// | length (4) | serializeType (1) + headerLength (3) | header | body |
    /// ```
    /// `length` counts everything after itself. Every length is checked against the bytes
    /// present and against `maxFrameLength` before use.
    public static func parseFrame(from buffer: inout ByteBuffer, maxFrameLength: Int) throws(RemotingDecodeError)
        -> RemotingCommand?
    {
        guard let rawLength = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        let length = Int(rawLength)
        guard length <= maxFrameLength else { throw .frameTooLarge(length: length, limit: maxFrameLength) }
        guard length >= 4 else { throw .frameTooShort(length: length) }
        guard buffer.readableBytes >= 4 + length else { return nil }
        var frame = buffer.getSlice(at: buffer.readerIndex + 4, length: length)!
        let word = frame.readInteger(as: UInt32.self)!
        let headerLength = Int(word & 0x00FF_FFFF)
        guard headerLength <= length - 4 else {
            throw .headerLengthOutOfRange(headerLength: headerLength, frameLength: length)
        }
        guard let serializeType = SerializeType(rawValue: UInt8(word >> 24)) else {
            throw .unknownSerializeType(UInt8(word >> 24))
        }
        let header = frame.readSlice(length: headerLength)!
        var command: RemotingCommand
        switch serializeType {
        case .json: command = try decodeJSONHeader(header)
        case .rocketmq: command = try decodeBinaryHeader(header)
        }
        command.serializeType = serializeType
        command.body = frame.readableBytes > 0 ? frame : nil
        buffer.moveReaderIndex(forwardBy: 4 + length)
        return command
    }

    public func writeFrame(into out: inout ByteBuffer) {
        let bodyLength = body?.readableBytes ?? 0
        out.reserveCapacity(minimumWritableBytes: 8 + 256 + bodyLength)
        // The two length words are written once the header's length is known.
        let start = out.writerIndex
        out.moveWriterIndex(forwardBy: 8)
        switch serializeType {
        case .json: writeJSONHeader(into: &out)
        case .rocketmq: writeBinaryHeader(into: &out)
        }
        let headerLength = out.writerIndex - start - 8
        if let body { out.writeImmutableBuffer(body) }
        out.setInteger(Int32(4 + headerLength + bodyLength), at: start)
        out.setInteger(UInt32(serializeType.rawValue) << 24 | UInt32(headerLength), at: start + 4)
    }

    public func frameBytes() -> [UInt8] {
        var buffer = ByteBuffer()
        writeFrame(into: &buffer)
        return buffer.readBytes(length: buffer.readableBytes)!
    }

    // MARK: ROCKETMQ binary header

    static func decodeBinaryHeader(_ header: ByteBuffer) throws(RemotingDecodeError) -> RemotingCommand {
        var header = header
        guard let code = header.readInteger(as: Int16.self), let language = header.readInteger(as: UInt8.self),
            let version = header.readInteger(as: Int16.self), let opaque = header.readInteger(as: Int32.self),
            let flag = header.readInteger(as: Int32.self), let remarkLength = header.readInteger(as: Int32.self)
        else { throw .badBinaryHeader("truncated fixed part") }
        guard remarkLength >= 0, remarkLength <= header.readableBytes else {
            throw .badBinaryHeader("remark length \(remarkLength)")
        }
        let remark = remarkLength > 0 ? header.readString(length: Int(remarkLength)) : nil
        guard let extLength = header.readInteger(as: Int32.self), extLength >= 0, extLength <= header.readableBytes
        else { throw .badBinaryHeader("extFields length") }
        var ext = header.readSlice(length: Int(extLength))!
        var extFields: [String: String] = [:]
        // Each entry takes at least 6 bytes.
        extFields.reserveCapacity(min(64, ext.readableBytes / 6))
        while ext.readableBytes > 0 {
            guard let keyLength = ext.readInteger(as: Int16.self), keyLength >= 0, keyLength <= ext.readableBytes,
                let key = ext.readString(length: Int(keyLength)), let valueLength = ext.readInteger(as: Int32.self),
                valueLength >= 0, valueLength <= ext.readableBytes, let value = ext.readString(length: Int(valueLength))
            else { throw .badBinaryHeader("truncated extFields entry") }
            extFields[key] = value
        }
        return RemotingCommand(
            code: Int32(code), language: LanguageCode.name(ofCode: language), version: Int32(version), opaque: opaque,
            flag: flag, remark: remark, extFields: extFields)
    }

    func writeBinaryHeader(into out: inout ByteBuffer) {
        out.writeInteger(Int16(truncatingIfNeeded: code))
        out.writeInteger(LanguageCode.code(ofName: language))
        out.writeInteger(Int16(truncatingIfNeeded: version))
        out.writeInteger(opaque)
        out.writeInteger(flag)
        Self.writeLengthPrefixed(remark ?? "", as: Int32.self, into: &out)
        // Entries in any order (Java writes its HashMap's); each length is patched in after its text.
        let extStart = out.writerIndex
        out.writeInteger(Int32(0))
        for (key, value) in extFields {
            Self.writeLengthPrefixed(key, as: Int16.self, into: &out)
            Self.writeLengthPrefixed(value, as: Int32.self, into: &out)
        }
        out.setInteger(Int32(out.writerIndex - extStart - 4), at: extStart)
    }

    private static func writeLengthPrefixed<Length: FixedWidthInteger>(
        _ text: String, as: Length.Type, into out: inout ByteBuffer
    ) {
        let lengthAt = out.writerIndex
        out.writeInteger(Length(0))
        let written = out.writeString(text)
        out.setInteger(Length(truncatingIfNeeded: written), at: lengthAt)
    }
}

/// NIO adapter over `RemotingCommand.parseFrame`. With a budget, the bytes of an unfinished
/// frame this connection holds count against it; a refused growth closes the connection.
public struct RemotingFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RemotingCommand
    public let maxFrameLength: Int
    let budget: PartialFrameBudget?
    /// Bytes this connection has reported to `budget`.
    private var heldBytes = 0

    public init(maxFrameLength: Int, budget: PartialFrameBudget? = nil) {
        self.maxFrameLength = maxFrameLength
        self.budget = budget
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RemotingCommand? {
        let command = try RemotingCommand.parseFrame(from: &buffer, maxFrameLength: maxFrameLength)
        if let budget {
            // What is left after a whole frame is the start of the next one (or nothing).
            let held = buffer.readableBytes
            guard budget.update(from: heldBytes, to: held) else {
                throw RemotingDecodeError.partialFrameBudgetExceeded(
                    heldBytes: budget.heldBytes + held - heldBytes, budgetBytes: budget.limitBytes)
            }
            heldBytes = held
        }
        return command
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RemotingCommand? {
        try decode(buffer: &buffer)
    }

    public mutating func decoderRemoved(context: ChannelHandlerContext) {
        _ = budget?.update(from: heldBytes, to: 0)
        heldBytes = 0
    }
}

public struct RemotingCommandEncoder: MessageToByteEncoder {
    public typealias OutboundIn = RemotingCommand
    public init() {}
    public func encode(data: RemotingCommand, out: inout ByteBuffer) throws {
        data.writeFrame(into: &out)
    }
}
