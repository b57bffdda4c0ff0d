/// `TopicConfig`: a topic's queues and permissions on one broker.
public struct TopicConfig: Sendable, Equatable {
    public var topicName: String
    public var readQueueNums: Int32
    public var writeQueueNums: Int32
    public var perm: Int32
    public var topicFilterType: String
    public var topicSysFlag: Int32
    public var order: Bool

    public static let singleTag = "SINGLE_TAG"
    public static let multiTag = "MULTI_TAG"

    public init(
        topicName: String, readQueueNums: Int32 = 16, writeQueueNums: Int32 = 16,
        perm: Int32 = Permission.read | Permission.write, topicFilterType: String = TopicConfig.singleTag,
        topicSysFlag: Int32 = 0, order: Bool = false
    ) {
        self.topicName = topicName
        self.readQueueNums = readQueueNums
        self.writeQueueNums = writeQueueNums
        self.perm = perm
        self.topicFilterType = topicFilterType
        self.topicSysFlag = topicSysFlag
        self.order = order
    }

    public var json: JSONValue {
        .object([
            "topicName": .string(topicName), "readQueueNums": .int(readQueueNums),
            "writeQueueNums": .int(writeQueueNums),
            "perm": .int(perm), "topicFilterType": .string(topicFilterType), "topicSysFlag": .int(topicSysFlag),
            "order": .bool(order),
        ])
    }

    public init?(json: JSONValue) {
        guard let name = json["topicName"]?.text else { return nil }
        self.init(
            topicName: name, readQueueNums: json["readQueueNums"]?.int32 ?? 16,
            writeQueueNums: json["writeQueueNums"]?.int32 ?? 16, perm: json["perm"]?.int32 ?? 6,
            topicFilterType: json["topicFilterType"]?.text ?? TopicConfig.singleTag,
            topicSysFlag: json["topicSysFlag"]?.int32 ?? 0, order: json["order"]?.bool ?? false)
    }

    /// `TopicConfig.encode()`: the compressed registration's form, `name read write perm filterType`.
    public var encoded: String { "\(topicName) \(readQueueNums) \(writeQueueNums) \(perm) \(topicFilterType)" }

    public init?(encoded: String) {
        let parts = encoded.split(separator: " ").map(String.init)
        guard parts.count >= 4, let read = Int32(parts[1]), let write = Int32(parts[2]), let perm = Int32(parts[3])
        else { return nil }
        self.init(
            topicName: parts[0], readQueueNums: read, writeQueueNums: write, perm: perm,
            topicFilterType: parts.count >= 5 ? parts[4] : TopicConfig.singleTag)
    }
}

/// `DataVersion`: a broker's topic-config version; the NameServer applies topic configs only when it changes.
public struct DataVersion: Sendable, Equatable {
    public var timestamp: Int64
    public var counter: Int64

    public init(timestamp: Int64, counter: Int64) {
        self.timestamp = timestamp
        self.counter = counter
    }

    public var json: JSONValue { .object(["timestamp": .int(timestamp), "counter": .int(counter)]) }

    public init(json: JSONValue) {
        self.init(timestamp: json["timestamp"]?.int64 ?? 0, counter: json["counter"]?.int64 ?? 0)
    }
}

/// `TopicConfigSerializeWrapper` inside `RegisterBrokerBody`.
public struct RegisterBrokerBody: Sendable, Equatable {
    public var dataVersion: DataVersion
    public var topicConfigTable: [String: TopicConfig]
    public var filterServerList: [String]

    public init(dataVersion: DataVersion, topicConfigTable: [String: TopicConfig], filterServerList: [String] = []) {
        self.dataVersion = dataVersion
        self.topicConfigTable = topicConfigTable
        self.filterServerList = filterServerList
    }

    public var json: JSONValue {
        .object([
            "filterServerList": .array(filterServerList.map { .string($0) }),
            "topicConfigSerializeWrapper": .object([
                "dataVersion": dataVersion.json,
                "topicConfigTable": .object(topicConfigTable.mapValues(\.json)),
            ]),
        ])
    }

    /// The JSON form; also accepts a bare TopicConfigSerializeWrapper (brokers older than V3_0_11).
    public init?(json: JSONValue) {
        let wrapper = json["topicConfigSerializeWrapper"] ?? json
        guard let version = wrapper["dataVersion"] else { return nil }
        var table: [String: TopicConfig] = [:]
        for (name, value) in wrapper["topicConfigTable"]?.object ?? [:] {
            if var config = TopicConfig(json: value) {
                config.topicName = name
                table[name] = config
            }
        }
        self.init(
            dataVersion: DataVersion(json: version), topicConfigTable: table,
            filterServerList: json["filterServerList"]?.array?.compactMap(\.text) ?? [])
    }
}
