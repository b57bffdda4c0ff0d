import Common
import NIOCore
import Remoting

#if canImport(Glibc)
    import Glibc
#endif

/// Admin and offset codes: topics, queue offsets, locks, configs, VIEW_MESSAGE_BY_ID.
struct AdminBrokerProcessor: Sendable {
    let broker: BrokerController

    func updateAndCreateTopic(_ request: RemotingCommand) async throws -> RemotingCommand {
        let topic = try request.string("topic")
        if let problem = SystemTopics.validate(topic) {
            return request.response(code: ResponseCode.systemError, remark: problem)
        }
        if topic == broker.config.brokerClusterName {
            return request.response(
                code: ResponseCode.systemError, remark: "the topic[\(topic)] is conflict with system reserved words.")
        }
        let config = TopicConfig(
            topicName: topic, readQueueNums: try request.int32("readQueueNums", in: 1...1024),
            writeQueueNums: try request.int32("writeQueueNums", in: 1...1024),
            perm: try request.int32("perm", in: 0...Permission.all),
            topicFilterType: request.optionalString("topicFilterType") ?? TopicConfig.singleTag,
            topicSysFlag: try request.optionalInteger("topicSysFlag", default: 0), order: request.bool("order"))
        guard config.readQueueNums > 0, config.writeQueueNums > 0, config.readQueueNums <= 1024,
            config.writeQueueNums <= 1024
        else {
            return request.response(code: ResponseCode.systemError, remark: "queue numbers must be in 1...1024")
        }
        broker.topics.update(config)
        broker.logger.info("topic updated: \(config.encoded)")
        await broker.registerWithNameServers()
        return request.response(code: ResponseCode.success)
    }

    func deleteTopic(_ request: RemotingCommand) async throws -> RemotingCommand {
        let topic = try request.string("topic")
        if broker.topics.delete(topic) { await broker.registerWithNameServers() }
        return request.response(code: ResponseCode.success)
    }

    func allTopicConfig(_ request: RemotingCommand) -> RemotingCommand {
        let body = broker.topics.registerBody
        let json = JSONValue.object([
            "dataVersion": body.dataVersion.json, "topicConfigTable": .object(body.topicConfigTable.mapValues(\.json)),
        ])
        return request.response(code: ResponseCode.success, bodyBytes: json.serializedBytes())
    }

    func queueOffsets(_ request: RemotingCommand) throws -> RemotingCommand {
        let topic = try request.string("topic")
        let queueId = try request.int32("queueId")
        let store = broker.store
        switch request.code {
        case RequestCode.getMaxOffset:
            return request.response(
                code: ResponseCode.success, fields: ["offset": String(store.maxOffsetInQueue(topic, queueId))])
        case RequestCode.getMinOffset:
            return request.response(
                code: ResponseCode.success, fields: ["offset": String(store.minOffsetInQueue(topic, queueId))])
        case RequestCode.getEarliestMsgStoretime:
            let time = try store.storeTime(topic, queueId, at: store.minOffsetInQueue(topic, queueId)) ?? -1
            return request.response(code: ResponseCode.success, fields: ["timestamp": String(time)])
        default:
            let timestamp = try request.int64("timestamp")
            let offset = try store.offsetInQueue(byTime: timestamp, topic, queueId)
            return request.response(code: ResponseCode.success, fields: ["offset": String(offset)])
        }
    }

    func lockBatch(_ request: RemotingCommand) throws -> RemotingCommand {
        guard let body = LockBatchRequestBody(json: try JSONValue.parse(request.bodyBytes)) else {
            return request.response(code: ResponseCode.systemError, remark: "bad lock body")
        }
        let now = currentTimeMillis()
        let granted = broker.locks.withLock {
            $0.tryLockBatch(group: body.consumerGroup, queues: body.mqSet, clientId: body.clientId, now: now)
        }
        let json = JSONValue.object(["lockOKMQSet": .array(granted.map(\.json))])
        return request.response(code: ResponseCode.success, bodyBytes: json.serializedBytes())
    }

    func unlockBatch(_ request: RemotingCommand) throws -> RemotingCommand {
        guard let body = LockBatchRequestBody(json: try JSONValue.parse(request.bodyBytes)) else {
            return request.response(code: ResponseCode.systemError, remark: "bad unlock body")
        }
        broker.locks.withLock { $0.unlockBatch(group: body.consumerGroup, queues: body.mqSet, clientId: body.clientId) }
        return request.response(code: ResponseCode.success)
    }

    func brokerConfig(_ request: RemotingCommand) -> RemotingCommand {
        let text = PropertiesFile.render(broker.config.effectiveProperties)
        return request.response(code: ResponseCode.success, bodyBytes: Array(text.utf8))
    }

    func runtimeInfo(_ request: RemotingCommand) -> RemotingCommand {
        let store = broker.store
        var table: [String: JSONValue] = [
            "brokerVersion": .string(String(RemotingCommand.ourVersion)), "brokerVersionDesc": .string("V4_9_7"),
            "commitLogMinOffset": .string(String(store.commitLogMinOffset)),
            "commitLogMaxOffset": .string(String(store.commitLogMaxOffset)),
            "bootTimestamp": .string(String(broker.bootTimestamp)),
            "msgPutTotalTodayNow": .string(String(broker.stats.messagesPut)),
            "msgGetTotalTodayNow": .string(String(broker.stats.messagesGot)),
            "brokerRole": .string(broker.role.current.role.rawValue),
            "brokerId": .string(String(broker.role.current.brokerId)),
            // Not in RocketMQ's table: the record checks of reads and of the scrubber.
            "commitLogDamagedRecords": .string(String(store.damage.count)),
            "commitLogLastDamage": .string(store.damage.latest ?? ""),
            "commitLogScrubbedBytes": .string(String(store.scrubProgress.bytes)),
            "commitLogScrubPasses": .string(String(store.scrubProgress.passes)),
            // Not in RocketMQ's table: lets a fault-injecting tool on the same machine find the process.
            "pid": .string(String(getpid())),
        ]
        // Master/slave HA (ours): how far the slaves acknowledged; the slave's master link.
        if let ha = broker.haService {
            table["haSlaveConnections"] = .string(String(ha.acknowledgements.connectedSlaves))
            table["haSlaveAckOffset"] = .string(String(ha.acknowledgements.acked.reached))
        }
        if let ha = broker.haClient {
            table["haMasterAddress"] = .string(ha.masterAddress ?? "")
            table["haConnected"] = .string(String(ha.connectedTo.withLock { $0 != nil }))
        }
        // DLedger mode: the member's Raft role, term and indices (RocketMQ shows these too).
        for (key, value) in store.replicatedLog?.status ?? [:] { table[key] = .string(value) }
        return request.response(
            code: ResponseCode.success, bodyBytes: JSONValue.object(["table": .object(table)]).serializedBytes())
    }

    func allSubscriptionGroups(_ request: RemotingCommand) -> RemotingCommand {
        request.response(code: ResponseCode.success, bodyBytes: broker.subscriptionGroups.json.serializedBytes())
    }

    /// QUERY_MESSAGE (12): by key, or by unique id with `_UNIQUE_KEY_QUERY=true`.
    func queryMessage(_ request: RemotingCommand) throws -> RemotingCommand {
        let topic = try request.string("topic")
        let key = try request.string("key")
        let uniqueOnly = request.bool("_UNIQUE_KEY_QUERY")
        let maxNum = uniqueOnly ? broker.config.defaultQueryMaxNum : Int(try request.int32("maxNum", in: 0...Int32.max))
        let begin = try request.int64("beginTimestamp")
        let end = try request.int64("endTimestamp")
        let found = try broker.store.queryMessages(
            topic: topic, key: key, maxCount: min(max(1, maxNum), Self.maxQueryResults), beginMillis: begin,
            endMillis: end,
            uniqueKeyOnly: uniqueOnly)
        let fields = [
            "indexLastUpdateTimestamp": String(found.lastUpdateTimestamp),
            "indexLastUpdatePhyoffset": String(found.lastUpdatePhyOffset),
        ]
        guard found.count > 0 else {
            return request.response(
                code: ResponseCode.queryNotFound, remark: "can not find message, maybe time range not correct",
                fields: fields)
        }
        return request.response(code: ResponseCode.success, fields: fields, body: found.messages)
    }

    /// Most messages one QUERY_MESSAGE returns (RocketMQ's `maxMsgsNumBatch`).
    static let maxQueryResults = 64

    func viewMessageById(_ request: RemotingCommand) throws -> RemotingCommand {
        let offset = try request.int64("offset")
        do {
            return request.response(
                code: ResponseCode.success, body: try broker.store.readRecord(atCommitLogOffset: offset))
        } catch .outOfRange {
            return request.response(
                code: ResponseCode.systemError, remark: "can not find message by the offset, \(offset)")
        } catch {
            broker.store.reportDamage(error, queue: nil)
            return request.response(code: ResponseCode.systemError, remark: "message at offset \(offset): \(error)")
        }
    }
}
