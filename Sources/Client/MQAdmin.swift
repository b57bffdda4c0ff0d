import Common
import NIOCore
import Remoting

/// Admin operations over the NameServers and brokers (`DefaultMQAdminExt`), used by `mqadmin`.
public struct MQAdmin: Sendable {
    public let api: MQClientAPI

    public init(api: MQClientAPI) { self.api = api }

    public func clusterInfo() async throws -> (brokers: [BrokerData], clusters: [String: [String]]) {
        let body = try await nameServerBody(.request(code: RequestCode.getBrokerClusterInfo))
        let brokers = (body["brokerAddrTable"]?.object ?? [:]).values.compactMap(BrokerData.init(json:))
            .sorted { $0.brokerName < $1.brokerName }
        let clusters = (body["clusterAddrTable"]?.object ?? [:]).mapValues {
            ($0.array ?? []).compactMap(\.text).sorted()
        }
        return (brokers, clusters)
    }

    public func topicList() async throws -> [String] {
        let body = try await nameServerBody(.request(code: RequestCode.getAllTopicListFromNameServer))
        return (body["topicList"]?.array ?? []).compactMap(\.text).sorted()
    }

    /// Master addresses of a cluster (all clusters when nil).
    public func masters(cluster: String?) async throws -> [String] {
        let info = try await clusterInfo()
        let names = cluster.map { Set(info.clusters[$0] ?? []) }
        return info.brokers.filter { names?.contains($0.brokerName) ?? true }.compactMap(\.masterAddress)
    }

    public func updateTopic(_ config: TopicConfig, brokerAddrs: [String]) async throws {
        let fields = [
            "topic": config.topicName, "defaultTopic": SystemTopics.autoCreateTopicKey,
            "readQueueNums": String(config.readQueueNums), "writeQueueNums": String(config.writeQueueNums),
            "perm": String(config.perm), "topicFilterType": config.topicFilterType,
            "topicSysFlag": String(config.topicSysFlag), "order": String(config.order),
        ]
        for address in brokerAddrs {
            _ = try await api.invokeExpectingSuccess(
                address, .request(code: RequestCode.updateAndCreateTopic, fields: fields))
        }
    }

    public func deleteTopic(_ topic: String, cluster: String?) async throws {
        for address in try await masters(cluster: cluster) {
            _ = try await api.invokeExpectingSuccess(
                address, .request(code: RequestCode.deleteTopicInBroker, fields: ["topic": topic]))
        }
        var fields = ["topic": topic]
        if let cluster { fields["clusterName"] = cluster }
        for address in api.namesrvAddrs {
            let response = try await api.invoke(
                address, .request(code: RequestCode.deleteTopicInNamesrv, fields: fields))
            guard response.code == ResponseCode.success else {
                throw ClientError.broker(code: response.code, remark: response.remark ?? "")
            }
        }
    }

    public struct QueueStatus: Sendable, Equatable {
        public var queue: MessageQueue
        public var minOffset: Int64
        public var maxOffset: Int64
        public var lastUpdateTimestamp: Int64
    }

    /// Per-queue offsets of a topic on every broker hosting it.
    public func topicStatus(_ topic: String) async throws -> [QueueStatus] {
        guard let route = try await api.topicRoute(topic) else { throw ClientError.noRoute(topic: topic) }
        var result: [QueueStatus] = []
        for queueData in route.queueDatas.sorted(by: { $0.brokerName < $1.brokerName }) {
            guard let address = route.brokerDatas.first(where: { $0.brokerName == queueData.brokerName })?.masterAddress
            else { continue }
            for queueId in 0..<queueData.readQueueNums {
                let fields = ["topic": topic, "queueId": String(queueId)]
                func offset(_ code: Int32, _ key: String) async throws -> Int64 {
                    let response = try await api.invokeExpectingSuccess(address, .request(code: code, fields: fields))
                    return Int64(response.extFields[key] ?? "") ?? -1
                }
                let maxOffset = try await offset(RequestCode.getMaxOffset, "offset")
                var last: Int64 = 0
                if maxOffset > 0 {
                    let response = try await api.invoke(
                        address,
                        .request(
                            code: RequestCode.pullMessage, fields: Self.pullFields(topic, queueId, maxOffset - 1, 1)))
                    if response.code == ResponseCode.success,
                        let message = try? StoredMessageCodec.decodeAll(response.body ?? ByteBuffer()).first
                    {
                        last = message.storeTimestamp
                    }
                }
                result.append(
                    QueueStatus(
                        queue: MessageQueue(topic: topic, brokerName: queueData.brokerName, queueId: queueId),
                        minOffset: try await offset(RequestCode.getMinOffset, "offset"), maxOffset: maxOffset,
                        lastUpdateTimestamp: last))
            }
        }
        return result
    }

    /// PULL_MESSAGE headers for reading a queue with no consumer-group state (`*`, no commit);
    /// a non-zero `suspendMillis` asks the broker to hold the pull (long polling).
    public static func pullFields(
        _ topic: String, _ queueId: Int32, _ offset: Int64, _ count: Int, group: String = "TOOLS_CONSUMER",
        suspendMillis: Int = 0
    ) -> [String: String] {
        let flags = PullSysFlag.subscription | (suspendMillis > 0 ? PullSysFlag.suspend : 0)
        return [
            "consumerGroup": group, "topic": topic, "queueId": String(queueId), "queueOffset": String(offset),
            "maxMsgNums": String(count), "sysFlag": String(flags), "commitOffset": "0",
            "suspendTimeoutMillis": String(suspendMillis), "subscription": "*", "subVersion": "0",
        ]
    }

    /// Messages of one queue from `offset` (PULL_MESSAGE without a consumer group's state).
    public func pull(address: String, topic: String, queueId: Int32, offset: Int64, maxCount: Int) async throws
        -> (messages: [MessageExt], nextOffset: Int64)
    {
        let response = try await api.invoke(
            address, .request(code: RequestCode.pullMessage, fields: Self.pullFields(topic, queueId, offset, maxCount)))
        let next = Int64(response.extFields["nextBeginOffset"] ?? "") ?? offset
        guard response.code == ResponseCode.success else { return ([], next) }
        return (try StoredMessageCodec.decodeAll(response.body ?? ByteBuffer()), next)
    }

    public func brokerRuntimeInfo(_ address: String, timeoutMillis: Int64 = 3000) async throws -> [String: String] {
        let response = try await api.invokeExpectingSuccess(
            address, .request(code: RequestCode.getBrokerRuntimeInfo), timeoutMillis: timeoutMillis)
        return (try JSONValue.parse(response.bodyBytes)["table"]?.object ?? [:]).compactMapValues(\.text)
    }

    /// DLedger mode: asks the master at `master` to hand leadership to member `transferee`;
    /// returns the member state it reports afterwards.
    public func transferLeadership(master: String, to transferee: String) async throws -> String {
        let response = try await api.invokeExpectingSuccess(
            master,
            .request(code: RequestCode.dLedgerLeadershipTransfer, fields: ["transfereeId": transferee]),
            timeoutMillis: 10_000)
        return response.remark ?? ""
    }

    public func brokerConfig(_ address: String) async throws -> [String: String] {
        let response = try await api.invokeExpectingSuccess(address, .request(code: RequestCode.getBrokerConfig))
        return PropertiesFile.parse(String(decoding: response.bodyBytes, as: UTF8.self))
    }

    /// QUERY_MESSAGE on every master hosting `topic`: by key, or by unique id.
    public func queryMessages(topic: String, key: String, uniqueKey: Bool, maxCount: Int = 64) async throws
        -> [MessageExt]
    {
        guard let route = try await api.topicRoute(topic) else { throw ClientError.noRoute(topic: topic) }
        var fields = [
            "topic": topic, "key": key, "maxNum": String(maxCount), "beginTimestamp": "0",
            "endTimestamp": String(Int64.max),
        ]
        if uniqueKey { fields["_UNIQUE_KEY_QUERY"] = "true" }
        var found: [MessageExt] = []
        for address in route.brokerDatas.compactMap(\.masterAddress) {
            let response = try await api.invoke(address, .request(code: RequestCode.queryMessage, fields: fields))
            if response.code == ResponseCode.success {
                found += try StoredMessageCodec.decodeAll(response.body ?? ByteBuffer())
            }
        }
        return found
    }

    /// VIEW_MESSAGE_BY_ID for an offset message id (store host + CommitLog offset).
    public func viewMessage(offsetMessageId: String) async throws -> MessageExt? {
        guard let (host, offset) = MessageID.decodeOffsetMessageId(offsetMessageId) else { return nil }
        let response = try await api.invoke(
            host.description, .request(code: RequestCode.viewMessageById, fields: ["offset": String(offset)]))
        guard response.code == ResponseCode.success else { return nil }
        return try StoredMessageCodec.decodeAll(response.body ?? ByteBuffer()).first
    }

    func nameServerBody(_ request: RemotingCommand) async throws -> JSONValue {
        let response = try await api.invokeNameServer(request)
        guard response.code == ResponseCode.success else {
            throw ClientError.broker(code: response.code, remark: response.remark ?? "")
        }
        return try JSONValue.parse(response.bodyBytes)
    }
}
