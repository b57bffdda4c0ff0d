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

    init(_ request: RemotingCommand) throws(HeaderError) {
        var request = request
        if request.code == RequestCode.sendMessageV2 || request.code == RequestCode.sendBatchMessage {
            let names: [String: String] = [
                "a": "producerGroup", "b": "topic", "c": "defaultTopic", "d": "defaultTopicQueueNums", "e": "queueId",
                "f": "sysFlag", "g": "bornTimestamp", "h": "flag", "i": "properties", "j": "reconsumeTimes",
                "k": "unitMode", "l": "maxReconsumeTimes", "m": "batch", "n": "bname",
            ]
            var fields: [String: String] = [:]
            for (key, value) in request.extFields { fields[names[key] ?? key] = value }
            request.extFields = fields
        }
        producerGroup = try request.string("producerGroup")
        topic = try request.string("topic")
        defaultTopic = try request.string("defaultTopic")
        defaultTopicQueueNums = try request.int32("defaultTopicQueueNums")
        queueId = try request.int32("queueId")
        sysFlag = try request.int32("sysFlag")
        bornTimestamp = try request.int64("bornTimestamp")
        flag = try request.int32("flag")
        properties = MessageProperties.decode(request.extFields["properties"] ?? "")
        reconsumeTimes = Int32(try request.optionalInt64("reconsumeTimes") ?? 0)
        maxReconsumeTimes = try request.optionalInt64("maxReconsumeTimes").map { Int32(truncatingIfNeeded: $0) }
        batch = request.bool("batch") || request.code == RequestCode.sendBatchMessage
    }
}

extension PutMessageStatus {
    /// One mapping from store outcomes to the wire.
    var responseCode: Int32 {
        switch self {
        case .putOK: ResponseCode.success
        case .flushDiskTimeout: ResponseCode.flushDiskTimeout
        case .serviceNotAvailable: ResponseCode.serviceNotAvailable
        case .messageIllegal: ResponseCode.messageIllegal
        case .unknownError: ResponseCode.systemError
        }
    }

    var remark: String? {
        switch self {
        case .putOK, .flushDiskTimeout: nil
        case .serviceNotAvailable(let why), .messageIllegal(let why), .unknownError(let why): why
        }
    }
}
