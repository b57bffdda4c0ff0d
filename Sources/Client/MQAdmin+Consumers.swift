import Remoting

extension MQAdmin {
    /// One queue's consumption progress (`OffsetWrapper`).
    public struct QueueProgress: Sendable, Equatable {
        public var queue: MessageQueue
        public var brokerOffset: Int64
        public var consumerOffset: Int64
        public var lastTimestamp: Int64
        public var lag: Int64 { max(0, brokerOffset - consumerOffset) }
    }

    /// GET_CONSUME_STATS on every master (of `cluster`, or all): a group's progress per queue.
    public func consumerProgress(group: String, topic: String? = nil, cluster: String? = nil) async throws
        -> [QueueProgress]
    {
        var fields = ["consumerGroup": group]
        if let topic { fields["topic"] = topic }
        var progress: [QueueProgress] = []
        for address in try await masters(cluster: cluster) {
            let response = try await api.invokeExpectingSuccess(
                address, .request(code: RequestCode.getConsumeStats, fields: fields))
            progress += Self.queueOffsets(try JSONValue.parse(response.bodyBytes)["offsetTable"]).map { queue, entry in
                QueueProgress(
                    queue: queue, brokerOffset: entry["brokerOffset"]?.int64 ?? 0,
                    consumerOffset: entry["consumerOffset"]?.int64 ?? 0,
                    lastTimestamp: entry["lastTimestamp"]?.int64 ?? 0)
            }
        }
        return progress.sorted { $0.queue < $1.queue }
    }

    /// Subscription groups known to the masters (of `cluster`, or all), system groups excluded.
    public func consumerGroups(cluster: String? = nil) async throws -> [String] {
        var groups = Set<String>()
        for address in try await masters(cluster: cluster) {
            let response = try await api.invokeExpectingSuccess(
                address, .request(code: RequestCode.getAllSubscriptionGroupConfig))
            groups.formUnion((try JSONValue.parse(response.bodyBytes)["subscriptionGroupTable"]?.object ?? [:]).keys)
        }
        return groups.filter { !Self.systemGroups.contains($0) }.sorted()
    }

    static let systemGroups: Set<String> = [
        "TOOLS_CONSUMER", "FILTERSRV_CONSUMER", "SELF_TEST_C_GROUP", "CID_ONS-HTTP-PROXY", "CID_ONSAPI_PULL",
        "CID_ONSAPI_PERMISSION", "CID_ONSAPI_OWNER", "CID_RMQ_SYS_TRANS",
    ]

    /// INVOKE_BROKER_TO_RESET_OFFSET on every master hosting `topic`: the group's offsets move to
    /// the first message stored at or after `timestamp` (-1: the end). Returns the new offsets.
    public func resetOffsetByTime(group: String, topic: String, timestamp: Int64, force: Bool = true) async throws
        -> [MessageQueue: Int64]
    {
        guard let route = try await api.topicRoute(topic) else { throw ClientError.noRoute(topic: topic) }
        var offsets: [MessageQueue: Int64] = [:]
        let fields = ["topic": topic, "group": group, "timestamp": String(timestamp), "isForce": String(force)]
        for address in route.brokerDatas.compactMap(\.masterAddress) {
            let response = try await api.invokeExpectingSuccess(
                address, .request(code: RequestCode.invokeBrokerToResetOffset, fields: fields))
            for (queue, offset) in Self.queueOffsets(try JSONValue.parse(response.bodyBytes)["offsetTable"]) {
                offsets[queue] = offset.int64
            }
        }
        return offsets
    }

    /// A fastjson map keyed by MessageQueue objects.
    static func queueOffsets(_ table: JSONValue?) -> [(MessageQueue, JSONValue)] {
        (table?.object ?? [:]).compactMap { key, value in
            guard let json = try? JSONValue.parse(key), let queue = MessageQueue(json: json) else { return nil }
            return (queue, value)
        }
    }
}
