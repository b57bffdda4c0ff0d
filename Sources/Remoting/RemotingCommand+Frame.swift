import NIOCore

/// Why a frame could not be read. Any of these closes the connection (with a log line).
public enum RemotingDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    case frameTooLarge(length: Int, limit: Int)
    case frameTooShort(length: Int)
    case headerLengthOutOfRange(headerLength: Int, frameLength: Int)
    case unknownSerializeType(UInt8)
    case badJSONHeader(String)
    case badBinaryHeader(String)

    public var description: String {
        switch self {
        case .frameTooLarge(let length, let limit): "frame of \(length) bytes exceeds the limit of \(limit)"
        case .frameTooShort(let length): "frame length \(length) is shorter than its header-length word"
        case .headerLengthOutOfRange(let header, let frame):
            "header length \(header) does not fit frame length \(frame)"
        case .unknownSerializeType(let type): "unknown serialization type \(type)"
        case .badJSONHeader(let reason): "bad JSON header: \(reason)"
        case .badBinaryHeader(let reason): "bad ROCKETMQ header: \(reason)"
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
        var header = ByteBuffer()
        switch serializeType {
        case .json: writeJSONHeader(into: &header)
        case .rocketmq: writeBinaryHeader(into: &header)
        }
        let bodyLength = body?.readableBytes ?? 0
        out.reserveCapacity(minimumWritableBytes: 8 + header.readableBytes + bodyLength)
        out.writeInteger(Int32(4 + header.readableBytes + bodyLength))
        out.writeInteger(UInt32(serializeType.rawValue) << 24 | UInt32(header.readableBytes))
        out.writeImmutableBuffer(header)
        if let body { out.writeImmutableBuffer(body) }
    }

    public func frameBytes() -> [UInt8] {
        var buffer = ByteBuffer()
        writeFrame(into: &buffer)
        return buffer.readBytes(length: buffer.readableBytes)!
    }

    // MARK: JSON header

    static func decodeJSONHeader(_ header: ByteBuffer) throws(RemotingDecodeError) -> RemotingCommand {
        let value: JSONValue
        do {
            value = try JSONValue.parse(header.readableBytesView)
        } catch {
            throw .badJSONHeader(error.description)
        }
        guard case .object(let fields) = value else { throw .badJSONHeader("not an object") }
        guard let code = fields["code"]?.int64, let code32 = Int32(exactly: code) else {
            throw .badJSONHeader("missing or invalid code")
        }
        var extFields: [String: String] = [:]
        if let ext = fields["extFields"]?.object {
            for (key, value) in ext {
                if let text = value.text { extFields[key] = text }
            }
        }
        return RemotingCommand(
            code: code32,
            language: fields["language"]?.text ?? "OTHER",
            version: Int32(truncatingIfNeeded: fields["version"]?.int64 ?? 0),
            opaque: Int32(truncatingIfNeeded: fields["opaque"]?.int64 ?? 0),
            flag: Int32(truncatingIfNeeded: fields["flag"]?.int64 ?? 0),
            remark: fields["remark"]?.text,
            extFields: extFields)
    }

    func writeJSONHeader(into out: inout ByteBuffer) {
        var fields: [String: JSONValue] = [
            "code": .int(code), "language": .string(language), "version": .int(version), "opaque": .int(opaque),
            "flag": .int(flag), "extFields": .object(extFields.mapValues { .string($0) }),
            "serializeTypeCurrentRPC": .string("JSON"),
        ]
        if let remark { fields["remark"] = .string(remark) }
        out.writeBytes(JSONValue.object(fields).serializedBytes())
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
        let remarkBytes = Array((remark ?? "").utf8)
        out.writeInteger(Int32(remarkBytes.count))
        out.writeBytes(remarkBytes)
        var ext = ByteBuffer()
        for key in extFields.keys.sorted() {
            let keyBytes = Array(key.utf8)
            let valueBytes = Array(extFields[key]!.utf8)
            ext.writeInteger(Int16(keyBytes.count))
            ext.writeBytes(keyBytes)
            ext.writeInteger(Int32(valueBytes.count))
            ext.writeBytes(valueBytes)
        }
        out.writeInteger(Int32(ext.readableBytes))
        out.writeBuffer(&ext)
    }
}

/// NIO adapter over `RemotingCommand.parseFrame`.
public struct RemotingFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RemotingCommand
    public let maxFrameLength: Int

    public init(maxFrameLength: Int) { self.maxFrameLength = maxFrameLength }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RemotingCommand? {
        try RemotingCommand.parseFrame(from: &buffer, maxFrameLength: maxFrameLength)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RemotingCommand? {
        try decode(buffer: &buffer)
    }
}

public struct RemotingCommandEncoder: MessageToByteEncoder {
    public typealias OutboundIn = RemotingCommand
    public init() {}
    public func encode(data: RemotingCommand, out: inout ByteBuffer) throws {
        data.writeFrame(into: &out)
    }
}
