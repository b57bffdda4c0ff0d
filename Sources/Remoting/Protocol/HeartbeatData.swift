/// One subscription of a consumer group (`SubscriptionData`).
public struct SubscriptionData: Sendable, Equatable {
    public var topic: String
    public var subString: String
    public var subVersion: Int64
    public var expressionType: String

    public init(topic: String, subString: String, subVersion: Int64, expressionType: String = "TAG") {
        self.topic = topic
        self.subString = subString
        self.subVersion = subVersion
        self.expressionType = expressionType
    }

    public var expression: SubscriptionExpression { SubscriptionExpression(subString) }

    public var json: JSONValue {
        let parsed = expression
        return .object([
            "topic": .string(topic), "subString": .string(subString), "subVersion": .int(subVersion),
            "expressionType": .string(expressionType), "classFilterMode": .bool(false),
            "tagsSet": .array(parsed.tags.sorted().map { .string($0) }),
            "codeSet": .array(parsed.tags.sorted().map { .int(TagHash.code($0)) }),
        ])
    }

    public init?(json: JSONValue) {
        guard let topic = json["topic"]?.text else { return nil }
        self.init(
            topic: topic, subString: json["subString"]?.text ?? "*", subVersion: json["subVersion"]?.int64 ?? 0,
            expressionType: json["expressionType"]?.text ?? "TAG")
    }
}

public enum MessageModel: String, Sendable {
    case broadcasting = "BROADCASTING"
    case clustering = "CLUSTERING"

    /// Enum names (Java) or ordinals (C++).
    public init(json: JSONValue?) {
        switch json {
        case .string("BROADCASTING"), .number("0"), .string("0"): self = .broadcasting
        default: self = .clustering
        }
    }
}

public enum ConsumeType: String, Sendable {
    case consumeActively = "CONSUME_ACTIVELY"
    case consumePassively = "CONSUME_PASSIVELY"

    public init(json: JSONValue?) {
        switch json {
        case .string("CONSUME_ACTIVELY"), .number("0"), .string("0"): self = .consumeActively
        default: self = .consumePassively
        }
    }
}

public struct ConsumerData: Sendable, Equatable {
    public var groupName: String
    public var consumeType: ConsumeType
    public var messageModel: MessageModel
    public var consumeFromWhere: String
    public var subscriptions: [SubscriptionData]

    public init(
        groupName: String, consumeType: ConsumeType, messageModel: MessageModel,
        consumeFromWhere: String = "CONSUME_FROM_LAST_OFFSET", subscriptions: [SubscriptionData]
    ) {
        self.groupName = groupName
        self.consumeType = consumeType
        self.messageModel = messageModel
        self.consumeFromWhere = consumeFromWhere
        self.subscriptions = subscriptions
    }

    static let consumeFromWhereNames = [
        "CONSUME_FROM_LAST_OFFSET", "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST", "CONSUME_FROM_MIN_OFFSET",
        "CONSUME_FROM_MAX_OFFSET", "CONSUME_FROM_FIRST_OFFSET", "CONSUME_FROM_TIMESTAMP",
    ]

    public init?(json: JSONValue) {
        guard let group = json["groupName"]?.text else { return nil }
        var from = json["consumeFromWhere"]?.text ?? Self.consumeFromWhereNames[0]
        if let ordinal = Int(from), ordinal >= 0, ordinal < Self.consumeFromWhereNames.count {
            from = Self.consumeFromWhereNames[ordinal]
        }
        self.init(
            groupName: group, consumeType: ConsumeType(json: json["consumeType"]),
            messageModel: MessageModel(json: json["messageModel"]), consumeFromWhere: from,
            subscriptions: json["subscriptionDataSet"]?.array?.compactMap(SubscriptionData.init(json:)) ?? [])
    }

    public var json: JSONValue {
        .object([
            "groupName": .string(groupName), "consumeType": .string(consumeType.rawValue),
            "messageModel": .string(messageModel.rawValue), "consumeFromWhere": .string(consumeFromWhere),
            "unitMode": .bool(false), "subscriptionDataSet": .array(subscriptions.map(\.json)),
        ])
    }
}

/// HEART_BEAT body.
public struct HeartbeatData: Sendable, Equatable {
    public var clientID: String
    public var producerGroups: [String]
    public var consumers: [ConsumerData]

    public init(clientID: String, producerGroups: [String], consumers: [ConsumerData]) {
        self.clientID = clientID
        self.producerGroups = producerGroups
        self.consumers = consumers
    }

    public init?(json: JSONValue) {
        guard let clientID = json["clientID"]?.text else { return nil }
        self.init(
            clientID: clientID,
            producerGroups: json["producerDataSet"]?.array?.compactMap { $0["groupName"]?.text } ?? [],
            consumers: json["consumerDataSet"]?.array?.compactMap(ConsumerData.init(json:)) ?? [])
    }

    public var json: JSONValue {
        .object([
            "clientID": .string(clientID),
            "producerDataSet": .array(producerGroups.map { .object(["groupName": .string($0)]) }),
            "consumerDataSet": .array(consumers.map(\.json)),
        ])
    }
}

/// LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request body.
public struct LockBatchRequestBody: Sendable, Equatable {
    public var consumerGroup: String
    public var clientId: String
    public var mqSet: [MessageQueue]

    public init(consumerGroup: String, clientId: String, mqSet: [MessageQueue]) {
        self.consumerGroup = consumerGroup
        self.clientId = clientId
        self.mqSet = mqSet
    }

    public init?(json: JSONValue) {
        guard let group = json["consumerGroup"]?.text, let client = json["clientId"]?.text else { return nil }
        self.init(
            consumerGroup: group, clientId: client,
            mqSet: json["mqSet"]?.array?.compactMap(MessageQueue.init(json:)) ?? [])
    }

    public var json: JSONValue {
        .object([
            "consumerGroup": .string(consumerGroup), "clientId": .string(clientId), "onlyThisBroker": .bool(false),
            "mqSet": .array(mqSet.map(\.json)),
        ])
    }
}
