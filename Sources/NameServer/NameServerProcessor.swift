import Common
import Logging
import NIOCore
import Remoting
import Synchronization

/// Serves the NameServer's request codes over its tables.
public final class NameServerProcessor: RemotingRequestHandler {
    let config: NamesrvConfig
    let logger: Logger
    let routes = Mutex(RouteInfoManager())
    let kvConfig: Mutex<KVConfigManager>
    let clock: @Sendable () -> Int64

    public init(config: NamesrvConfig, logger: Logger, clock: @escaping @Sendable () -> Int64 = currentTimeMillis) {
        self.config = config
        self.logger = logger
        self.clock = clock
        var kv = KVConfigManager()
        do {
            if let text = try AtomicFile.read(config.kvConfigPath) {
                kv = KVConfigManager(json: try JSONValue.parse(text))
            }
        } catch {
            logger.error("cannot load KV config \(config.kvConfigPath): \(error); starting with an empty table")
        }
        kvConfig = Mutex(kv)
    }

    public func handle(_ request: RemotingCommand, from connection: RemotingConnection) async -> RemotingCommand? {
        do {
            return try process(request, from: connection)
        } catch let error as HeaderError {
            return request.response(code: ResponseCode.systemError, remark: error.description)
        } catch {
            logger.warning("request \(request.code) from \(connection.remoteAddress) failed: \(error)")
            return request.response(code: ResponseCode.systemError, remark: "\(error)")
        }
    }

    public func connectionClosed(_ connection: RemotingConnection) {
        let gone = routes.withLock { $0.connectionClosed(connection.id) }
        for address in gone {
            logger.info("broker \(address) removed: its connection \(connection.remoteAddress) closed")
        }
    }

    /// Removes expired brokers; returns their addresses.
    @discardableResult
    public func scanNotActiveBrokers() -> [String] {
        let now = clock()
        let expired = routes.withLock {
            $0.scanNotActiveBrokers(now: now, expiryMillis: Int64(config.brokerChannelExpiredTime))
        }
        for address in expired {
            logger.warning("broker \(address) expired: no registration for \(config.brokerChannelExpiredTime) ms")
        }
        return expired
    }

    func process(_ request: RemotingCommand, from connection: RemotingConnection) throws -> RemotingCommand {
        switch request.code {
        case RequestCode.registerBroker: return try registerBroker(request, connection: connection)
        case RequestCode.unregisterBroker:
            let cluster = try request.string("clusterName")
            let address = try request.string("brokerAddr")
            let name = try request.string("brokerName")
            let id = try request.int64("brokerId", in: 0...Int64.max)
            routes.withLock {
                $0.unregisterBroker(clusterName: cluster, brokerAddr: address, brokerName: name, brokerId: id)
            }
            logger.info("broker unregistered: \(name) id \(id) at \(address)")
            return request.response(code: ResponseCode.success)
        case RequestCode.getRouteInfoByTopic: return try routeInfo(request)
        case RequestCode.getBrokerClusterInfo:
            let body = routes.withLock { $0.clusterInfoJSON }
            return request.response(code: ResponseCode.success, bodyBytes: body.serializedBytes())
        case RequestCode.getAllTopicListFromNameServer:
            return topicList(request, routes.withLock { $0.allTopics })
        case RequestCode.getTopicsByCluster:
            let cluster = try request.string("cluster")
            return topicList(request, routes.withLock { $0.topics(inCluster: cluster) })
        case RequestCode.deleteTopicInNamesrv:
            let topic = try request.string("topic")
            let cluster = request.optionalString("clusterName")
            routes.withLock { $0.deleteTopic(topic, clusterName: cluster) }
            return request.response(code: ResponseCode.success)
        case RequestCode.queryDataVersion:
            let address = try request.string("brokerAddr")
            let version = DataVersion(json: (try? JSONValue.parse(request.bodyBytes)) ?? .null)
            let now = clock()
            let (changed, stored) = routes.withLock { table in
                (
                    table.isBrokerTopicConfigChanged(brokerAddr: address, dataVersion: version, now: now),
                    table.brokerLiveTable[address]?.dataVersion
                )
            }
            return request.response(
                code: ResponseCode.success, fields: ["changed": String(changed)],
                body: stored.map { ByteBuffer(bytes: $0.json.serializedBytes()) })
        case RequestCode.wipeWritePermOfBroker, RequestCode.addWritePermOfBroker:
            let name = try request.string("brokerName")
            let writable = request.code == RequestCode.addWritePermOfBroker
            let count = routes.withLock { $0.setWritePermission(brokerName: name, writable: writable) }
            return request.response(
                code: ResponseCode.success, fields: [writable ? "addTopicCount" : "wipeTopicCount": String(count)])
        case RequestCode.putKVConfig, RequestCode.getKVConfig, RequestCode.deleteKVConfig,
            RequestCode.getKVListByNamespace:
            return try kvRequest(request)
        default:
            return request.response(
                code: ResponseCode.requestCodeNotSupported, remark: " request type \(request.code) not supported")
        }
    }

    func registerBroker(_ request: RemotingCommand, connection: RemotingConnection) throws -> RemotingCommand {
        let bodyBytes = request.bodyBytes
        let crc = try request.optionalInteger("bodyCrc32", default: Int32(0))
        if crc != 0, CRC32.masked(bodyBytes) != crc {
            logger.warning("REGISTER_BROKER from \(connection.remoteAddress) with a bad body CRC")
            return request.response(code: ResponseCode.systemError, remark: "crc32 not match")
        }
        var body: RegisterBrokerBody?
        if !bodyBytes.isEmpty {
            if request.bool("compressed") {
                body = try RegisterBrokerBodyCompression.decode(bodyBytes)
            } else {
                guard let parsed = RegisterBrokerBody(json: try JSONValue.parse(bodyBytes)) else {
                    return request.response(code: ResponseCode.systemError, remark: "bad RegisterBrokerBody")
                }
                body = parsed
            }
        }
        // Routes go to every client: a topic name a broker could not have accepted stays out.
        if let invalid = body?.topicConfigTable.keys.filter({ SystemTopics.validate($0) != nil }), !invalid.isEmpty {
            logger.warning(
                "REGISTER_BROKER from \(connection.remoteAddress): \(invalid.count) topics with invalid names ignored")
            for topic in invalid { body?.topicConfigTable[topic] = nil }
        }
        let registration = RegisterBrokerRequest(
            clusterName: try request.string("clusterName"), brokerAddr: try request.string("brokerAddr"),
            brokerName: try request.string("brokerName"), brokerId: try request.int64("brokerId", in: 0...Int64.max),
            haServerAddr: request.extFields["haServerAddr"] ?? "", body: body, connectionID: connection.id,
            term: try request.optionalInteger("term", default: UInt64(0), in: 0...UInt64(Int64.max)))
        let now = clock()
        let result = routes.withLock { $0.registerBroker(registration, now: now) }
        if let refused = result.refused {
            logger.warning("REGISTER_BROKER from \(connection.remoteAddress) refused: \(refused)")
            return request.response(code: ResponseCode.systemError, remark: refused)
        }
        var fields: [String: String] = [:]
        if let master = result.masterAddr { fields["masterAddr"] = master }
        if let ha = result.haServerAddr { fields["haServerAddr"] = ha }
        let orderConfig = kvConfig.withLock { $0.table[Self.orderTopicNamespace] } ?? [:]
        let responseBody: ByteBuffer? =
            orderConfig.isEmpty
            ? nil
            : ByteBuffer(
                bytes: JSONValue.object(["table": .object(orderConfig.mapValues { .string($0) })]).serializedBytes())
        return request.response(code: ResponseCode.success, fields: fields, body: responseBody)
    }

    static let orderTopicNamespace = "ORDER_TOPIC_CONFIG"

    func routeInfo(_ request: RemotingCommand) throws -> RemotingCommand {
        let topic = try request.string("topic")
        guard var route = routes.withLock({ $0.topicRoute(topic) }) else {
            return request.response(
                code: ResponseCode.topicNotExist,
                remark: "No topic route info in name server for the topic: \(topic)")
        }
        if config.orderMessageEnable {
            route.orderTopicConf = kvConfig.withLock { $0.value(namespace: Self.orderTopicNamespace, key: topic) }
        }
        return request.response(code: ResponseCode.success, bodyBytes: route.json.serializedBytes())
    }

    func topicList(_ request: RemotingCommand, _ topics: [String]) -> RemotingCommand {
        let body = JSONValue.object(["topicList": .array(topics.map { .string($0) })])
        return request.response(code: ResponseCode.success, bodyBytes: body.serializedBytes())
    }

    func kvRequest(_ request: RemotingCommand) throws -> RemotingCommand {
        let namespace = try request.string("namespace")
        switch request.code {
        case RequestCode.putKVConfig:
            let key = try request.string("key")
            let value = try request.string("value")
            try updateKV { $0.put(namespace: namespace, key: key, value: value) }
            return request.response(code: ResponseCode.success)
        case RequestCode.deleteKVConfig:
            let key = try request.string("key")
            try updateKV { $0.delete(namespace: namespace, key: key) }
            return request.response(code: ResponseCode.success)
        case RequestCode.getKVConfig:
            let key = try request.string("key")
            guard let value = kvConfig.withLock({ $0.value(namespace: namespace, key: key) }) else {
                return request.response(
                    code: ResponseCode.queryNotFound, remark: "No config item, Namespace: \(namespace) Key: \(key)")
            }
            return request.response(code: ResponseCode.success, fields: ["value": value])
        default:
            guard let table = kvConfig.withLock({ $0.table[namespace] }) else {
                return request.response(
                    code: ResponseCode.queryNotFound, remark: "No config item, Namespace: \(namespace)")
            }
            let body = JSONValue.object(["table": .object(table.mapValues { .string($0) })])
            return request.response(code: ResponseCode.success, bodyBytes: body.serializedBytes())
        }
    }

    /// Applies a change and persists the whole table before answering.
    func updateKV(_ change: (inout KVConfigManager) -> Void) throws {
        try kvConfig.withLock { table in
            change(&table)
            try AtomicFile.write(table.json.serialized(), to: config.kvConfigPath)
        }
    }
}
