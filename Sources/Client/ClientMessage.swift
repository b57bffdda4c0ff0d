import Remoting

/// A message to send (`org.apache.rocketmq.common.message.Message`).
public struct Message: Sendable, Equatable {
    public var topic: String
    public var body: [UInt8]
    public var flag: Int32 = 0
    public var properties: [String: String] = [:]

    public init(topic: String, body: [UInt8], tags: String? = nil, keys: [String] = [], delayTimeLevel: Int = 0) {
        self.topic = topic
        self.body = body
        if let tags { properties[MessageConst.tags] = tags }
        if !keys.isEmpty { properties[MessageConst.keys] = keys.joined(separator: MessageConst.keySeparator) }
        if delayTimeLevel > 0 { properties[MessageConst.delayTimeLevel] = String(delayTimeLevel) }
    }

    public init(topic: String, body: String, tags: String? = nil, keys: [String] = [], delayTimeLevel: Int = 0) {
        self.init(topic: topic, body: Array(body.utf8), tags: tags, keys: keys, delayTimeLevel: delayTimeLevel)
    }

    public var tags: String? { properties[MessageConst.tags] }
    public var keys: [String] { (properties[MessageConst.keys] ?? "").split(separator: " ").map(String.init) }
}

public enum SendStatus: Sendable, Equatable {
    case sendOK, flushDiskTimeout, flushSlaveTimeout, slaveNotAvailable
}

/// What a successful send returns (`SendResult`).
public struct SendResult: Sendable, Equatable {
    public var status: SendStatus
    /// The client-generated unique id (UNIQ_KEY): what users call the message id.
    public var msgId: String
    /// The broker's offset message id (store host + CommitLog offset).
    public var offsetMsgId: String
    public var messageQueue: MessageQueue
    public var queueOffset: Int64
}

public enum ClientError: Error, Sendable, CustomStringConvertible {
    case noRoute(topic: String)
    case noNameServer
    case broker(code: Int32, remark: String)
    case illegalMessage(String)
    case notStarted

    public var description: String {
        switch self {
        case .noRoute(let topic): "No route info of this topic: \(topic)"
        case .noNameServer: "no name server address configured"
        case .broker(let code, let remark): "broker answered \(code): \(remark)"
        case .illegalMessage(let why): "illegal message: \(why)"
        case .notStarted: "the client is not started"
        }
    }
}
