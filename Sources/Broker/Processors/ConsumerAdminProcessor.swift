import Common
import NIOCore
import Remoting

/// Consumer-group administration: GET_CONSUME_STATS (208), GET_CONSUMER_CONNECTION_LIST (203)
/// and INVOKE_BROKER_TO_RESET_OFFSET (222, which pushes RESET_CONSUMER_CLIENT_OFFSET 220 to
/// the group's consumers).
struct ConsumerAdminProcessor: Sendable {
    let broker: BrokerController

    /// The queue as a fastjson map key (`MessageQueue` objects are map keys in Java's bodies).
    static func key(_ queue: MessageQueue) -> String { queue.json.serialized() }

    /// Topics a group consumes here: its subscriptions, the topics it has offsets for, and its
    /// retry topic.
    func topics(of group: String, only topic: String?) -> [String] {
        if let topic { return [topic] }
        var topics = Set(broker.consumerOffsets.topics(consumedBy: group))
        topics.formUnion(broker.consumers.group(group)?.subscriptions.keys.map { $0 } ?? [])
        return topics.filter { broker.topics.select($0) != nil }.sorted()
    }

    func consumeStats(_ request: RemotingCommand) throws -> RemotingCommand {
        let group = try request.string("consumerGroup")
        let store = broker.store
        var table: [String: JSONValue] = [:]
        for topic in topics(of: group, only: request.optionalString("topic")) {
            guard let config = broker.topics.select(topic) else { continue }
            for queueId in 0..<config.writeQueueNums {
                let queue = MessageQueue(topic: topic, brokerName: broker.config.brokerName, queueId: queueId)
                let consumerOffset = max(
                    0, broker.consumerOffsets.query(group: group, topic: topic, queueId: queueId) ?? 0)
                let lastTimestamp =
                    consumerOffset > 0 ? try store.storeTime(topic, queueId, at: consumerOffset - 1) ?? 0 : 0
                table[Self.key(queue)] = .object([
                    "brokerOffset": .int(store.maxOffsetInQueue(topic, queueId)),
                    "consumerOffset": .int(consumerOffset), "lastTimestamp": .int(lastTimestamp),
                ])
            }
        }
        let body = JSONValue.object(["offsetTable": .object(table)])
        return request.response(code: ResponseCode.success, bodyBytes: body.serializedBytes())
    }

    func consumerConnectionList(_ request: RemotingCommand) throws -> RemotingCommand {
        let group = try request.string("consumerGroup")
        guard let info = broker.consumers.group(group), !info.clients.isEmpty else {
            return request.response(
                code: ResponseCode.consumerNotOnline, remark: "the consumer group[\(group)] not online")
        }
        let connections = info.clients.values.sorted { $0.clientId < $1.clientId }.map { client -> JSONValue in
            .object([
                "clientId": .string(client.clientId), "clientAddr": .string(client.connection.remoteAddress),
                "language": .string(client.language), "version": .int(client.version),
            ])
        }
        let body = JSONValue.object([
            "connectionSet": .array(connections), "subscriptionTable": .object(info.subscriptions.mapValues(\.json)),
            "consumeType": .string(info.consumeType.rawValue), "messageModel": .string(info.messageModel.rawValue),
            "consumeFromWhere": .string(info.consumeFromWhere),
        ])
        return request.response(code: ResponseCode.success, bodyBytes: body.serializedBytes())
    }

    /// Moves the group's offsets on `topic` to the first message stored at or after `timestamp`
    /// (-1: the end). Without `isForce` an offset only moves backwards. The new offsets are
    /// committed here, so they apply even to a group with no consumer online, and pushed to the
    /// online consumers.
    func resetOffset(_ request: RemotingCommand) throws -> RemotingCommand {
        let topic = try request.string("topic")
        let group = try request.string("group")
        let timestamp = try request.int64("timestamp")
        let force = request.optionalString("isForce").map { $0 == "true" || $0 == "1" } ?? true
        guard let config = broker.topics.select(topic) else {
            return request.response(code: ResponseCode.topicNotExist, remark: "topic[\(topic)] not exist")
        }
        let store = broker.store
        var reset: [(MessageQueue, Int64)] = []
        for queueId in 0..<config.writeQueueNums {
            var offset =
                timestamp < 0
                ? store.maxOffsetInQueue(topic, queueId) : try store.offsetInQueue(byTime: timestamp, topic, queueId)
            let current = broker.consumerOffsets.query(group: group, topic: topic, queueId: queueId)
            if !force, let current, current < offset { offset = current }
            broker.consumerOffsets.commit(group: group, topic: topic, queueId: queueId, offset: offset)
            reset.append((MessageQueue(topic: topic, brokerName: broker.config.brokerName, queueId: queueId), offset))
        }
        broker.logger.info("offsets of \(group) on \(topic) reset to \(timestamp): \(reset.map(\.1))")
        let javaBody = JSONValue.object([
            "offsetTable": .object(
                Dictionary(uniqueKeysWithValues: reset.map { (Self.key($0.0), JSONValue.int($0.1)) }))
        ])
        let cBody = JSONValue.object([
            "offsetTable": .array(
                reset.map { queue, offset in
                    var fields = queue.json.object ?? [:]
                    fields["offset"] = .int(offset)
                    return .object(fields)
                })
        ])
        let notice = RemotingCommand.request(
            code: RequestCode.resetConsumerClientOffset,
            fields: ["topic": topic, "group": group, "timestamp": String(timestamp), "isForce": String(force)])
        for client in broker.consumers.group(group)?.clients.values.map({ $0 }) ?? [] {
            var command = notice
            command.body = ByteBuffer(bytes: (client.language == "CPP" ? cBody : javaBody).serializedBytes())
            client.connection.sendOneway(command)
        }
        return request.response(code: ResponseCode.success, bodyBytes: javaBody.serializedBytes())
    }
}
