import Common
import NIOCore

/// How a frame's header is encoded: RocketMQ's JSON (the default everywhere) or its compact
/// binary form (`ROCKETMQ`), which a client may choose for its requests.
public enum SerializeType: UInt8, Sendable {
    case json = 0
    case rocketmq = 1

    /// `JSON` or `ROCKETMQ`, as RocketMQ spells them (any case).
    public init?(name: String) {
        switch name.uppercased() {
        case "JSON": self = .json
        case "ROCKETMQ": self = .rocketmq
        default: return nil
        }
    }

    public var name: String { self == .json ? "JSON" : "ROCKETMQ" }
}

/// One remoting frame: a request or a response (`RemotingCommand` in RocketMQ).
///
/// Header values live in `extFields` as strings; that is how Java models every custom header,
/// and it is the only form the C++ client reads back.
public struct RemotingCommand: Sendable {
    public static let responseFlag: Int32 = 1 << 0
    public static let onewayFlag: Int32 = 1 << 1
    /// The protocol version we report: V4_9_7 (407), as the Java 4.9.7 reference does.
    public static let ourVersion: Int32 = 407

    public var code: Int32
    public var language: String
    public var version: Int32
    public var opaque: Int32
    public var flag: Int32
    public var remark: String?
    public var extFields: [String: String]
    public var body: ByteBuffer?
    public var serializeType: SerializeType

    public init(
        code: Int32, language: String = "JAVA", version: Int32 = RemotingCommand.ourVersion, opaque: Int32 = 0,
        flag: Int32 = 0, remark: String? = nil, extFields: [String: String] = [:], body: ByteBuffer? = nil,
        serializeType: SerializeType = .json
    ) {
        self.code = code
        self.language = language
        self.version = version
        self.opaque = opaque
        self.flag = flag
        self.remark = remark
        self.extFields = extFields
        self.body = body
        self.serializeType = serializeType
    }

    public var isResponse: Bool { flag & Self.responseFlag != 0 }
    public var isOneway: Bool { flag & Self.onewayFlag != 0 }

    public var bodyBytes: [UInt8] {
        guard var body else { return [] }
        return body.readBytes(length: body.readableBytes) ?? []
    }

    public static func request(code: Int32, fields: [String: String] = [:], body: [UInt8]? = nil) -> RemotingCommand {
        RemotingCommand(code: code, extFields: fields, body: body.map { ByteBuffer(bytes: $0) })
    }

    /// A response to `self`: same opaque and serialization, response flag set.
    public func response(
        code: Int32, remark: String? = nil, fields: [String: String] = [:], body: ByteBuffer? = nil
    ) -> RemotingCommand {
        RemotingCommand(
            code: code, opaque: opaque, flag: Self.responseFlag, remark: remark, extFields: fields, body: body,
            serializeType: serializeType)
    }

    public func response(code: Int32, remark: String? = nil, fields: [String: String] = [:], bodyBytes: [UInt8])
        -> RemotingCommand
    {
        response(code: code, remark: remark, fields: fields, body: ByteBuffer(bytes: bodyBytes))
    }
}
