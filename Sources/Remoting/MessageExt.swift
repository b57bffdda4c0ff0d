import Common
import NIOCore

/// `ip` (IPv4 bytes) and port, as stored in BORNHOST/STOREHOST.
public struct HostAddress: Sendable, Equatable, CustomStringConvertible {
    public var ip: [UInt8]
    public var port: Int32

    public init(ip: [UInt8], port: Int32) {
        self.ip = ip
        self.port = port
    }

    /// From `a.b.c.d:port`. Other forms (IPv6) map to 0.0.0.0: the stock C++ client only decodes
    /// IPv4 hosts, so we never store the 20-byte IPv6 layout.
    public init(_ address: String) {
        let parts = address.split(separator: ":")
        let port = parts.count >= 2 ? Int32(parts.last!) ?? 0 : 0
        let octets = parts.count == 2 ? parts[0].split(separator: ".").compactMap { UInt8($0) } : []
        self.init(ip: octets.count == 4 ? octets : [0, 0, 0, 0], port: port)
    }

    public var description: String { ip.map(String.init).joined(separator: ".") + ":\(port)" }
}

/// A message as stored in the CommitLog and served to consumers (`MessageExt`).
public struct MessageExt: Sendable, Equatable {
    public static let magicCode: Int32 = -626_843_481  // 0xDAA320A7
    public static let blankMagicCode: Int32 = -875_286_124  // 0xCBD43194
    public static let maxTopicLength = 127
    public static let maxPropertiesLength = Int(Int16.max)

    public var storeSize: Int32 = 0
    public var bodyCRC: Int32 = 0
    public var queueId: Int32 = 0
    public var flag: Int32 = 0
    public var queueOffset: Int64 = 0
    public var commitLogOffset: Int64 = 0
    public var sysFlag: Int32 = 0
    public var bornTimestamp: Int64 = 0
    public var bornHost = HostAddress(ip: [0, 0, 0, 0], port: 0)
    public var storeTimestamp: Int64 = 0
    public var storeHost = HostAddress(ip: [0, 0, 0, 0], port: 0)
    public var reconsumeTimes: Int32 = 0
    public var preparedTransactionOffset: Int64 = 0
    public var body: [UInt8] = []
    public var topic: String = ""
    public var properties: [String: String] = [:]

    public init() {}

    public var tags: String? { properties[MessageConst.tags] }
    public var keys: [String] {
        (properties[MessageConst.keys] ?? "").split(separator: " ").map(String.init)
    }
    public var uniqueKey: String? { properties[MessageConst.uniqueKey] }
    public var delayLevel: Int { Int(properties[MessageConst.delayTimeLevel] ?? "") ?? 0 }

    /// The message with its body as sent: a compressed body (sysFlag bit 0, what clients do to
    /// large bodies) is inflated. A body that cannot be inflated is left as it is.
    public func inflated(limit: Int = 64 << 20) -> MessageExt {
        guard sysFlag & MessageSysFlag.compressed != 0, let body = try? Zlib.decompress(self.body, limit: limit) else {
            return self
        }
        var message = self
        message.body = body
        message.sysFlag &= ~MessageSysFlag.compressed
        return message
    }

    /// The broker-assigned offset message id (store host + physical offset, uppercase hex).
    public var offsetMessageId: String { MessageID.offsetMessageId(storeHost: storeHost, offset: commitLogOffset) }
}

public enum MessageDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(at: Int)
    case badMagic(Int32)
    case badLength(field: String, value: Int)

    public var description: String {
        switch self {
        case .truncated(let at): "record truncated at byte \(at)"
        case .badMagic(let magic): "bad magic code \(magic)"
        case .badLength(let field, let value): "bad \(field) length \(value)"
        }
    }
}

/// The stored-message record (CommitLog unit, PULL body unit):
/// ```
/// | TOTALSIZE 4 | MAGIC 4 | BODYCRC 4 | QUEUEID 4 | FLAG 4 | QUEUEOFFSET 8 | PHYSICALOFFSET 8 |
/// | SYSFLAG 4 | BORNTIMESTAMP 8 | BORNHOST 8 | STORETIMESTAMP 8 | STOREHOST 8 | RECONSUMETIMES 4 |
/// | PREPARED TRANSACTION OFFSET 8 | BODYLEN 4 | BODY | TOPICLEN 1 | TOPIC | PROPLEN 2 | PROPERTIES |
/// ```
/// IPv4 hosts only; total = 91 + body + topic + properties.
public enum StoredMessageCodec {
    public static let fixedLength = 91
    public static let storeTimestampPosition = 56
    public static let physicalOffsetPosition = 28
    public static let queueOffsetPosition = 20

    public static func encodedLength(bodyLength: Int, topicLength: Int, propertiesLength: Int) -> Int {
        fixedLength + bodyLength + topicLength + propertiesLength
    }

    /// The whole-record checksum property, always last: `__CRC32#` \x01 ten decimal digits,
    /// the CRC32 of every record byte before the digits. RocketMQ's BODYCRC covers only the body;
    /// this lets recovery reject a damaged header, topic or property too.
    public static let recordCRCKey = "__CRC32#"
    static let recordCRCDigits = 10

    /// Writes the properties as stored: without any old record checksum, with a placeholder for
    /// the new one, which is always last. The others come in the dictionary's order.
    static func writeStoredProperties(_ properties: [String: String], into out: inout ByteBuffer) {
        for (name, value) in properties where name != recordCRCKey {
            out.writeString(name)
            out.writeInteger(MessageProperties.nameValueSeparator)
            out.writeString(value)
            out.writeInteger(MessageProperties.propertySeparator)
        }
        out.writeString(recordCRCKey)
        out.writeInteger(MessageProperties.nameValueSeparator)
        out.writeRepeatingByte(UInt8(ascii: "0"), count: recordCRCDigits)
    }

    /// Bytes the properties take in the stored record (the record checksum included).
    public static func storedPropertiesLength(_ properties: [String: String]) -> Int {
        var length = recordCRCKey.utf8.count + 1 + recordCRCDigits
        for (name, value) in properties where name != recordCRCKey { length += name.utf8.count + value.utf8.count + 2 }
        return length
    }

    /// The stored length of `message`.
    public static func encodedLength(of message: MessageExt) -> Int {
        encodedLength(
            bodyLength: message.body.count, topicLength: message.topic.utf8.count,
            propertiesLength: storedPropertiesLength(message.properties))
    }

    /// Writes `message` as one record; `storeSize`, `bodyCRC` and the record checksum are computed
    /// here. `propertiesLength`: `storedPropertiesLength(message.properties)`, when the caller has it.
    public static func encode(_ message: MessageExt, propertiesLength: Int? = nil, into out: inout ByteBuffer) {
        let topicLength = message.topic.utf8.count
        let propertiesLength = propertiesLength ?? storedPropertiesLength(message.properties)
        precondition(topicLength <= MessageExt.maxTopicLength, "topic \(message.topic) too long")
        precondition(propertiesLength <= MessageExt.maxPropertiesLength, "properties too long")
        let total = encodedLength(
            bodyLength: message.body.count, topicLength: topicLength, propertiesLength: propertiesLength)
        out.reserveCapacity(minimumWritableBytes: total)
        let start = out.writerIndex
        out.writeInteger(Int32(total))
        out.writeInteger(MessageExt.magicCode)
        // The body's checksum, stored as BODYCRC, is reused for the record's: one pass over it.
        let bodyChecksum = CRC32.checksum(message.body)
        out.writeInteger(CRC32.masked(bodyChecksum))
        out.writeInteger(message.queueId)
        out.writeInteger(message.flag)
        out.writeInteger(message.queueOffset)
        out.writeInteger(message.commitLogOffset)
        out.writeInteger(message.sysFlag & ~(MessageSysFlag.bornHostV6 | MessageSysFlag.storeHostV6))
        out.writeInteger(message.bornTimestamp)
        out.writeBytes(message.bornHost.ip)
        out.writeInteger(message.bornHost.port)
        out.writeInteger(message.storeTimestamp)
        out.writeBytes(message.storeHost.ip)
        out.writeInteger(message.storeHost.port)
        out.writeInteger(message.reconsumeTimes)
        out.writeInteger(message.preparedTransactionOffset)
        out.writeInteger(Int32(message.body.count))
        let bodyStart = out.writerIndex
        out.writeBytes(message.body)
        out.writeInteger(UInt8(topicLength))
        out.writeString(message.topic)
        out.writeInteger(Int16(propertiesLength))
        writeStoredProperties(message.properties, into: &out)
        precondition(out.writerIndex - start == total, "record of \(out.writerIndex - start) bytes, expected \(total)")
        let bodyEnd = bodyStart + message.body.count
        let coveredEnd = start + total - recordCRCDigits
        var checksum = CRC32.combine(
            CRC32.checksum(out.viewBytes(at: start, length: bodyStart - start)!), bodyChecksum,
            secondLength: message.body.count)
        checksum = CRC32.combine(
            checksum, CRC32.checksum(out.viewBytes(at: bodyEnd, length: coveredEnd - bodyEnd)!),
            secondLength: coveredEnd - bodyEnd)
        // Ten decimal digits, zero-padded, over the placeholder.
        for position in stride(from: start + total - 1, through: start + total - recordCRCDigits, by: -1) {
            out.setInteger(UInt8(ascii: "0") + UInt8(checksum % 10), at: position)
            checksum /= 10
        }
    }

    /// Whether a record's trailing checksum property matches its bytes.
    /// (It is on every read: no allocation.)
    public static func hasValidRecordCRC(_ record: ByteBuffer) -> Bool {
        record.withUnsafeReadableBytes { bytes -> Bool in
            let size = bytes.count
            let markerStart = size - recordCRCDigits - recordCRCMarker.count
            guard markerStart > fixedLength else { return false }
            for (index, byte) in recordCRCMarker.enumerated() where bytes[markerStart + index] != byte {
                return false
            }
            var stored: UInt64 = 0
            for index in (size - recordCRCDigits)..<size {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return false }
                stored = stored * 10 + UInt64(digit)
            }
            return UInt64(CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(size - recordCRCDigits)])))
                == stored
        }
    }

    /// `__CRC32#` and the name-value separator that precede the checksum's digits.
    static let recordCRCMarker: [UInt8] = Array(recordCRCKey.utf8) + [MessageProperties.nameValueSeparator]

    public static func encode(_ message: MessageExt) -> [UInt8] {
        var buffer = ByteBuffer()
        encode(message, into: &buffer)
        return buffer.readBytes(length: buffer.readableBytes)!
    }

    /// Reads one record from the front of `buffer`, consuming it.
    public static func decode(from buffer: inout ByteBuffer, readBody: Bool = true) throws(MessageDecodeError)
        -> MessageExt
    {
        let start = buffer.readerIndex
        guard let total = buffer.getInteger(at: start, as: Int32.self) else { throw .truncated(at: 0) }
        guard total >= fixedLength, Int(total) <= buffer.readableBytes else {
            throw .badLength(field: "total", value: Int(total))
        }
        var record = buffer.getSlice(at: start, length: Int(total))!
        buffer.moveReaderIndex(forwardBy: Int(total))
        var message = MessageExt()
        message.storeSize = record.readInteger()!
        let magic: Int32 = record.readInteger()!
        guard magic == MessageExt.magicCode else { throw .badMagic(magic) }
        message.bodyCRC = record.readInteger()!
        message.queueId = record.readInteger()!
        message.flag = record.readInteger()!
        message.queueOffset = record.readInteger()!
        message.commitLogOffset = record.readInteger()!
        message.sysFlag = record.readInteger()!
        message.bornTimestamp = record.readInteger()!
        message.bornHost = HostAddress(ip: record.readBytes(length: 4)!, port: record.readInteger()!)
        message.storeTimestamp = record.readInteger()!
        message.storeHost = HostAddress(ip: record.readBytes(length: 4)!, port: record.readInteger()!)
        message.reconsumeTimes = record.readInteger()!
        message.preparedTransactionOffset = record.readInteger()!
        let bodyLength: Int32 = record.readInteger()!
        guard bodyLength >= 0, Int(bodyLength) <= record.readableBytes - 3 else {
            throw .badLength(field: "body", value: Int(bodyLength))
        }
        if readBody {
            message.body = record.readBytes(length: Int(bodyLength))!
        } else {
            record.moveReaderIndex(forwardBy: Int(bodyLength))
        }
        let topicLength = Int(record.readInteger(as: UInt8.self)!)
        guard topicLength <= record.readableBytes - 2 else { throw .badLength(field: "topic", value: topicLength) }
        message.topic = record.readString(length: topicLength)!
        let propertiesLength = Int(record.readInteger(as: Int16.self)!)
        guard propertiesLength >= 0, propertiesLength == record.readableBytes else {
            throw .badLength(field: "properties", value: propertiesLength)
        }
        message.properties = MessageProperties.decode(record.readableBytesView)
        return message
    }

    /// All records of a PULL/QUERY body.
    public static func decodeAll(_ buffer: ByteBuffer) throws(MessageDecodeError) -> [MessageExt] {
        var buffer = buffer
        var messages: [MessageExt] = []
        while buffer.readableBytes > 0 { messages.append(try decode(from: &buffer)) }
        return messages
    }
}

/// Offset message ids: store host (4 bytes) + port (4) + physical offset (8), uppercase hex.
public enum MessageID {
    public static func offsetMessageId(storeHost: HostAddress, offset: Int64) -> String {
        var bytes = storeHost.ip
        withUnsafeBytes(of: storeHost.port.bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: offset.bigEndian) { bytes.append(contentsOf: $0) }
        return hex(bytes)
    }

    /// (store host, physical offset) from a 32-character offset message id.
    public static func decodeOffsetMessageId(_ id: String) -> (HostAddress, Int64)? {
        guard id.utf8.count == 32, let bytes = unhex(id) else { return nil }
        let port = bytes[4..<8].reduce(Int32(0)) { $0 << 8 | Int32($1) }
        let offset = bytes[8..<16].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        return (HostAddress(ip: Array(bytes[0..<4]), port: port), offset)
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (position, byte) in bytes.enumerated() {
                out[2 * position] = hexDigit(byte >> 4)
                out[2 * position + 1] = hexDigit(byte & 0xF)
            }
            return bytes.count * 2
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
    }

    static func unhex(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var high: UInt8?
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case 0x30...0x39: value = byte - 0x30
            case 0x41...0x46: value = byte - 0x41 + 10
            case 0x61...0x66: value = byte - 0x61 + 10
            default: return nil
            }
            if let pending = high {
                out.append(pending << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return high == nil ? out : nil
    }
}

/// One message of a batch send body (`MessageDecoder.decodeMessages`):
/// `TOTALSIZE 4 | MAGIC 4 | BODYCRC 4 | FLAG 4 | BODYLEN 4 | BODY | PROPLEN 2 | PROPERTIES`.
public struct BatchedMessage: Sendable, Equatable {
    public var flag: Int32
    public var body: [UInt8]
    public var properties: [String: String]

    public init(flag: Int32, body: [UInt8], properties: [String: String]) {
        self.flag = flag
        self.body = body
        self.properties = properties
    }

    public static func decodeBatch(_ bytes: ByteBuffer) throws(MessageDecodeError) -> [BatchedMessage] {
        var buffer = bytes
        var messages: [BatchedMessage] = []
        while buffer.readableBytes > 0 {
            let at = buffer.readerIndex
            guard let total = buffer.readInteger(as: Int32.self), buffer.readableBytes >= 16 else {
                throw .truncated(at: at)
            }
            guard total >= 22, Int(total) - 4 <= buffer.readableBytes else {
                throw .badLength(field: "batch total", value: Int(total))
            }
            _ = buffer.readInteger(as: Int32.self)  // magic, sent as 0
            _ = buffer.readInteger(as: Int32.self)  // body CRC, sent as 0
            let flag = buffer.readInteger(as: Int32.self)!
            let bodyLength = Int(buffer.readInteger(as: Int32.self)!)
            guard bodyLength >= 0, bodyLength + 2 <= Int(total) - 20 else {
                throw .badLength(field: "batch body", value: bodyLength)
            }
            let body = buffer.readBytes(length: bodyLength)!
            let propertiesLength = Int(buffer.readInteger(as: Int16.self)!)
            guard propertiesLength >= 0, 20 + bodyLength + 2 + propertiesLength == Int(total) else {
                throw .badLength(field: "batch properties", value: propertiesLength)
            }
            let properties = MessageProperties.decode(buffer.readBytes(length: propertiesLength)!)
            messages.append(BatchedMessage(flag: flag, body: body, properties: properties))
        }
        return messages
    }

    public static func encodeBatch(_ messages: [BatchedMessage]) -> [UInt8] {
        var buffer = ByteBuffer()
        for message in messages {
            let properties = Array(MessageProperties.encode(message.properties).utf8)
            buffer.writeInteger(Int32(20 + message.body.count + 2 + properties.count))
            buffer.writeInteger(Int32(0))
            buffer.writeInteger(Int32(0))
            buffer.writeInteger(message.flag)
            buffer.writeInteger(Int32(message.body.count))
            buffer.writeBytes(message.body)
            buffer.writeInteger(Int16(properties.count))
            buffer.writeBytes(properties)
        }
        return buffer.readBytes(length: buffer.readableBytes)!
    }
}
