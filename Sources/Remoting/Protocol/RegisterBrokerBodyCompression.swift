import Common
import NIOCore

/// The compressed REGISTER_BROKER body (`RegisterBrokerBody.encode(true)`), zlib over:
/// ```
/// | int32 N | DataVersion JSON (N) | int32 K | K × (int32 L | TopicConfig.encode() (L)) | int32 M | filter servers JSON (M) |
/// ```
public enum RegisterBrokerBodyCompression {
    static let inflateLimit = 64 * 1024 * 1024

    public static func decode(_ compressed: [UInt8]) throws -> RegisterBrokerBody {
        var buffer = ByteBuffer(bytes: try Zlib.decompress(compressed, limit: inflateLimit))
        func chunk() throws -> [UInt8] {
            guard let length = buffer.readInteger(as: Int32.self), length >= 0,
                let bytes = buffer.readBytes(length: Int(length))
            else { throw HeaderError("truncated compressed RegisterBrokerBody") }
            return bytes
        }
        let version = DataVersion(json: try JSONValue.parse(try chunk()))
        guard let count = buffer.readInteger(as: Int32.self), count >= 0 else {
            throw HeaderError("truncated compressed RegisterBrokerBody")
        }
        var table: [String: TopicConfig] = [:]
        for _ in 0..<count {
            let text = String(decoding: try chunk(), as: UTF8.self)
            guard let config = TopicConfig(encoded: text) else { throw HeaderError("bad topic config \(text)") }
            table[config.topicName] = config
        }
        var filters: [String] = []
        if buffer.readableBytes >= 4 {
            filters = (try JSONValue.parse(try chunk())).array?.compactMap(\.text) ?? []
        }
        return RegisterBrokerBody(dataVersion: version, topicConfigTable: table, filterServerList: filters)
    }

    public static func encode(_ body: RegisterBrokerBody) -> [UInt8] {
        var buffer = ByteBuffer()
        func put(_ bytes: [UInt8]) {
            buffer.writeInteger(Int32(bytes.count))
            buffer.writeBytes(bytes)
        }
        put(body.dataVersion.json.serializedBytes())
        buffer.writeInteger(Int32(body.topicConfigTable.count))
        for name in body.topicConfigTable.keys.sorted() { put(Array(body.topicConfigTable[name]!.encoded.utf8)) }
        put(JSONValue.array(body.filterServerList.map { .string($0) }).serializedBytes())
        return Zlib.compress(buffer.readBytes(length: buffer.readableBytes)!, level: 9)
    }
}
