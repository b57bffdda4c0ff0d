import Remoting

/// SEND_MESSAGE (10) headers, also read from SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE's one-letter keys.
struct SendMessageRequestHeader: Sendable {
    var producerGroup: String
    var topic: String
    var defaultTopic: String
    var defaultTopicQueueNums: Int32
    var queueId: Int32
    var sysFlag: Int32
    var bornTimestamp: Int64
    var flag: Int32
    var properties: [String: String]
    var reconsumeTimes: Int32
    var maxReconsumeTimes: Int32?
    var batch: Bool

    /// The header keys of one request form.
    struct Keys: Sendable {
        let producerGroup, topic, defaultTopic, defaultTopicQueueNums, queueId, sysFlag: String
        let bornTimestamp, flag, properties, reconsumeTimes, maxReconsumeTimes, batch: String
    }

    static let longKeys = Keys(
        producerGroup: "producerGroup", topic: "topic", defaultTopic: "defaultTopic",
        defaultTopicQueueNums: "defaultTopicQueueNums", queueId: "queueId", sysFlag: "sysFlag",
        bornTimestamp: "bornTimestamp", flag: "flag", properties: "properties", reconsumeTimes: "reconsumeTimes",
        maxReconsumeTimes: "maxReconsumeTimes", batch: "batch")
    /// SEND_MESSAGE_V2's one-letter header keys (`SendMessageRequestHeaderV2`).
    static let shortKeys = Keys(
        producerGroup: "a", topic: "b", defaultTopic: "c", defaultTopicQueueNums: "d", queueId: "e", sysFlag: "f",
        bornTimestamp: "g", flag: "h", properties: "i", reconsumeTimes: "j", maxReconsumeTimes: "l", batch: "m")

    /// The header keys `request` uses (V2 and batch sends use the one-letter keys).
    static func keys(of request: RemotingCommand) -> Keys {
        request.code == RequestCode.sendMessageV2 || request.code == RequestCode.sendBatchMessage
            ? shortKeys : longKeys
    }

    init(_ request: RemotingCommand) throws(HeaderError) {
        let key = Self.keys(of: request)
        producerGroup = try request.string(key.producerGroup)
        topic = try request.string(key.topic)
        defaultTopic = try request.string(key.defaultTopic)
        defaultTopicQueueNums = try request.int32(key.defaultTopicQueueNums, in: 0...Int32.max)
        queueId = try request.int32(key.queueId)
        sysFlag = try request.int32(key.sysFlag)
        bornTimestamp = try request.int64(key.bornTimestamp)
        flag = try request.int32(key.flag)
        properties = MessageProperties.decode(request.extFields[key.properties] ?? "")
        reconsumeTimes = try request.optionalInteger(key.reconsumeTimes, default: 0, in: 0...Int32.max)
        maxReconsumeTimes = try request.optionalInteger(key.maxReconsumeTimes, in: -1...Int32.max)
        batch = request.bool(key.batch) || request.code == RequestCode.sendBatchMessage
    }
}

extension PutMessageStatus {
    /// One mapping from store outcomes to the wire.
    var responseCode: Int32 {
        switch self {
        case .putOK: ResponseCode.success
        case .flushDiskTimeout: ResponseCode.flushDiskTimeout
        case .flushSlaveTimeout, .slaveAckTimeout: ResponseCode.flushSlaveTimeout
        case .slaveNotAvailable: ResponseCode.slaveNotAvailable
        case .serviceNotAvailable: ResponseCode.serviceNotAvailable
        case .messageIllegal: ResponseCode.messageIllegal
        case .unknownError: ResponseCode.systemError
        }
    }

    var remark: String? {
        switch self {
        case .putOK, .flushDiskTimeout: nil
        case .flushSlaveTimeout: "the DLedger quorum did not confirm the message in time; it may still be stored"
        case .slaveAckTimeout: "the slave did not confirm the message in time; it is stored on the master"
        case .slaveNotAvailable: "no slave is available to copy the message; it is stored on the master only"
        case .serviceNotAvailable(let why), .messageIllegal(let why), .unknownError(let why): why
        }
    }
}
