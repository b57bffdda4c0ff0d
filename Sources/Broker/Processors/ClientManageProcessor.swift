import Common
import Remoting

/// HEART_BEAT (34), UNREGISTER_CLIENT (35), CHECK_CLIENT_CONFIG (46), GET_CONSUMER_LIST_BY_GROUP (38),
/// QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15).
struct ClientManageProcessor: Sendable {
    let broker: BrokerController

    func heartbeat(_ request: RemotingCommand, from connection: RemotingConnection) async throws -> RemotingCommand {
        broker.logger.trace(
            "heartbeat from \(connection.remoteAddress): \(String(decoding: request.bodyBytes, as: UTF8.self))")
        guard let heartbeat = HeartbeatData(json: try JSONValue.parse(request.bodyBytes)) else {
            return request.response(code: ResponseCode.systemError, remark: "bad heartbeat body: no clientID")
        }
        for group in heartbeat.consumers.map(\.groupName) + heartbeat.producerGroups {
            if let problem = SystemTopics.validateGroup(group) {
                broker.logger.warning("heartbeat from \(connection.remoteAddress) refused: \(problem)")
                return request.response(code: ResponseCode.systemError, remark: problem)
            }
        }
        let client = ClientChannelInfo(
            connection: connection, clientId: heartbeat.clientID, language: request.language, version: request.version,
            lastUpdateMillis: currentTimeMillis())
        for consumer in heartbeat.consumers {
            if let groupConfig = broker.subscriptionGroups.findOrCreate(consumer.groupName),
                consumer.messageModel == .clustering
            {
                let retry = SystemTopics.retryTopic(for: consumer.groupName)
                let (_, created) = broker.topics.createTopicIfAbsent(
                    retry, queueNums: groupConfig.retryQueueNums, perm: Permission.read | Permission.write)
                if created { await broker.registerWithNameServers() }
            }
            if broker.consumers.register(consumer, client: client) {
                broker.logger.info(
                    "new consumer connected, group: \(consumer.groupName) \(consumer.consumeType.rawValue) \(consumer.messageModel.rawValue) client: \(heartbeat.clientID) \(connection.remoteAddress)"
                )
                broker.notifyConsumerIdsChanged(consumer.groupName)
            }
        }
        for group in heartbeat.producerGroups {
            broker.producers.register(group: group, client: client)
        }
        return request.response(code: ResponseCode.success)
    }

    func unregisterClient(_ request: RemotingCommand) throws -> RemotingCommand {
        let clientId = try request.string("clientID")
        if let group = request.optionalString("producerGroup") {
            broker.producers.unregister(group: group, clientId: clientId)
        }
        if let group = request.optionalString("consumerGroup"),
            broker.consumers.unregister(group: group, clientId: clientId)
        {
            broker.logger.info("unregister consumer ok, group: \(group) client: \(clientId)")
            broker.notifyConsumerIdsChanged(group)
        }
        return request.response(code: ResponseCode.success)
    }

    func checkClientConfig(_ request: RemotingCommand) throws -> RemotingCommand {
        let body = try JSONValue.parse(request.bodyBytes)
        let type = body["subscriptionData"]?["expressionType"]?.text ?? "TAG"
        guard type == "TAG" else {
            return request.response(
                code: ResponseCode.systemError, remark: "expression type \(type) is not supported, only TAG")
        }
        return request.response(code: ResponseCode.success)
    }

    func consumerList(_ request: RemotingCommand) throws -> RemotingCommand {
        let group = try request.string("consumerGroup")
        guard let info = broker.consumers.group(group), !info.clients.isEmpty else {
            return request.response(code: ResponseCode.systemError, remark: "no consumer for this group, \(group)")
        }
        let body = JSONValue.object(["consumerIdList": .array(info.clients.keys.sorted().map { .string($0) })])
        return request.response(code: ResponseCode.success, bodyBytes: body.serializedBytes())
    }

    /// A stored offset; else 0 when the queue still starts at 0 (a new group on a young queue
    /// reads from the beginning, as in RocketMQ 4) unless the request says
    /// `setZeroIfNotFound=false` (RocketMQ 5's header; our client sends it so its
    /// consume-from policy decides); else QUERY_NOT_FOUND.
    func queryConsumerOffset(_ request: RemotingCommand) throws -> RemotingCommand {
        let group = try request.string("consumerGroup")
        let topic = try request.string("topic")
        let queueId = try request.int32("queueId")
        if let offset = broker.consumerOffsets.query(group: group, topic: topic, queueId: queueId) {
            return request.response(code: ResponseCode.success, fields: ["offset": String(offset)])
        }
        if request.optionalString("setZeroIfNotFound") != "false", broker.store.minOffsetInQueue(topic, queueId) <= 0 {
            return request.response(code: ResponseCode.success, fields: ["offset": "0"])
        }
        return request.response(
            code: ResponseCode.queryNotFound, remark: "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
    }

    func updateConsumerOffset(_ request: RemotingCommand) throws -> RemotingCommand {
        let group = try request.string("consumerGroup")
        let topic = try request.string("topic")
        let queueId = try request.int32("queueId")
        let offset = try request.int64("commitOffset")
        // A slave serves consumers while its master is away; the master gets these back.
        broker.consumerOffsets.commit(
            group: group, topic: topic, queueId: queueId, offset: offset, keepForMaster: broker.config.isClassicSlave)
        return request.response(code: ResponseCode.success)
    }
}
