/// `QueueData`: one broker group's share of a topic.
public struct QueueData: Sendable, Equatable {
    public var brokerName: String
    public var readQueueNums: Int32
    public var writeQueueNums: Int32
    public var perm: Int32
    public var topicSysFlag: Int32

    public init(brokerName: String, readQueueNums: Int32, writeQueueNums: Int32, perm: Int32, topicSysFlag: Int32 = 0) {
        self.brokerName = brokerName
        self.readQueueNums = readQueueNums
        self.writeQueueNums = writeQueueNums
        self.perm = perm
        self.topicSysFlag = topicSysFlag
    }

    public var json: JSONValue {
        .object([
            "brokerName": .string(brokerName), "readQueueNums": .int(readQueueNums),
            "writeQueueNums": .int(writeQueueNums),
            "perm": .int(perm), "topicSysFlag": .int(topicSysFlag),
        ])
    }

    public init?(json: JSONValue) {
        guard let brokerName = json["brokerName"]?.text else { return nil }
        self.init(
            brokerName: brokerName, readQueueNums: json["readQueueNums"]?.int32 ?? 0,
            writeQueueNums: json["writeQueueNums"]?.int32 ?? 0, perm: json["perm"]?.int32 ?? 0,
            // Java <= 4.8 spells it topicSynFlag.
            topicSysFlag: (json["topicSysFlag"] ?? json["topicSynFlag"])?.int32 ?? 0)
    }
}

/// `BrokerData`: a broker group and its members by broker id (0 = master/leader).
public struct BrokerData: Sendable, Equatable {
    public var cluster: String
    public var brokerName: String
    public var brokerAddrs: [Int64: String]

    public init(cluster: String, brokerName: String, brokerAddrs: [Int64: String]) {
        self.cluster = cluster
        self.brokerName = brokerName
        self.brokerAddrs = brokerAddrs
    }

    public var masterAddress: String? { brokerAddrs[0] }

    /// Where a client pulls or commits offsets: broker `brokerId` if the route has it, else the
    /// master, else the lowest-numbered slave (a group whose master is gone keeps serving reads,
    /// as the stock client's `findBrokerAddressInSubscribe` falls back).
    public func address(preferring brokerId: Int64 = 0) -> String? {
        brokerAddrs[brokerId] ?? brokerAddrs[0] ?? brokerAddrs.min { $0.key < $1.key }?.value
    }

    /// Standard JSON (quoted keys): the stock C++ client parses it, Java 4.9.4+ expects it.
    public var json: JSONValue {
        .object([
            "cluster": .string(cluster), "brokerName": .string(brokerName),
            "brokerAddrs": .object(
                Dictionary(uniqueKeysWithValues: brokerAddrs.map { (String($0.key), .string($0.value)) })),
        ])
    }

    public init?(json: JSONValue) {
        guard let brokerName = json["brokerName"]?.text else { return nil }
        var addresses: [Int64: String] = [:]
        for (key, value) in json["brokerAddrs"]?.object ?? [:] {
            if let id = Int64(key), let address = value.text { addresses[id] = address }
        }
        self.init(cluster: json["cluster"]?.text ?? "", brokerName: brokerName, brokerAddrs: addresses)
    }
}

/// `TopicRouteData`: what GET_ROUTEINFO_BY_TOPIC returns.
public struct TopicRouteData: Sendable, Equatable {
    public var orderTopicConf: String?
    public var queueDatas: [QueueData]
    public var brokerDatas: [BrokerData]

    public init(orderTopicConf: String? = nil, queueDatas: [QueueData], brokerDatas: [BrokerData]) {
        self.orderTopicConf = orderTopicConf
        self.queueDatas = queueDatas
        self.brokerDatas = brokerDatas
    }

    public var json: JSONValue {
        var fields: [String: JSONValue] = [
            "queueDatas": .array(queueDatas.map(\.json)), "brokerDatas": .array(brokerDatas.map(\.json)),
            "filterServerTable": .object([:]),
        ]
        if let orderTopicConf { fields["orderTopicConf"] = .string(orderTopicConf) }
        return .object(fields)
    }

    public init?(json: JSONValue) {
        guard let queues = json["queueDatas"]?.array, let brokers = json["brokerDatas"]?.array else { return nil }
        self.init(
            orderTopicConf: json["orderTopicConf"]?.text, queueDatas: queues.compactMap(QueueData.init(json:)),
            brokerDatas: brokers.compactMap(BrokerData.init(json:)))
    }
}

/// `MessageQueue`: topic + broker group + queue id.
public struct MessageQueue: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var brokerName: String
    public var queueId: Int32

    public init(topic: String, brokerName: String, queueId: Int32) {
        self.topic = topic
        self.brokerName = brokerName
        self.queueId = queueId
    }

    public var description: String { "MessageQueue [topic=\(topic), brokerName=\(brokerName), queueId=\(queueId)]" }

    public static func < (lhs: MessageQueue, rhs: MessageQueue) -> Bool {
        (lhs.topic, lhs.brokerName, lhs.queueId) < (rhs.topic, rhs.brokerName, rhs.queueId)
    }

    public var json: JSONValue {
        .object(["topic": .string(topic), "brokerName": .string(brokerName), "queueId": .int(queueId)])
    }

    public init?(json: JSONValue) {
        guard let topic = json["topic"]?.text, let brokerName = json["brokerName"]?.text,
            let queueId = json["queueId"]?.int
        else { return nil }
        self.init(topic: topic, brokerName: brokerName, queueId: Int32(truncatingIfNeeded: queueId))
    }
}
