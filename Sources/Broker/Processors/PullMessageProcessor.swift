import Common
import Remoting

/// PULL_MESSAGE (11): reads a queue, filters by tag hash, and holds the request (long polling)
/// when there is nothing new.
struct PullMessageProcessor: Sendable {
    let broker: BrokerController

    func pull(_ request: RemotingCommand) async throws -> RemotingCommand {
        let group = try request.string("consumerGroup")
        let topic = try request.string("topic")
        let queueId = try request.int32("queueId")
        let queueOffset = try request.int64("queueOffset")
        let maxMsgNums = Int(try request.int32("maxMsgNums", in: 0...Int32.max))
        let sysFlag = try request.int32("sysFlag")
        let commitOffset = try request.optionalInteger("commitOffset", default: Int64(-1))
        // A hold longer than the longest a client waits for an answer only pins memory.
        let suspendTimeoutMillis = min(
            try request.optionalInteger("suspendTimeoutMillis", default: Int64(0), in: 0...Int64.max),
            Self.maxSuspendMillis)

        let config = broker.config
        guard Permission.isReadable(config.brokerPermission) else {
            return request.response(
                code: ResponseCode.noPermission, remark: "the broker[\(config.brokerIP1)] pulling message is forbidden")
        }
        guard let groupConfig = broker.subscriptionGroups.findOrCreate(group) else {
            return request.response(
                code: ResponseCode.subscriptionGroupNotExist, remark: "subscription group [\(group)] does not exist")
        }
        guard groupConfig.consumeEnable else {
            return request.response(
                code: ResponseCode.noPermission, remark: "subscription group no permission, \(group)")
        }
        guard let topicConfig = broker.topics.select(topic) else {
            return request.response(
                code: ResponseCode.topicNotExist, remark: "topic[\(topic)] not exist, apply first please!")
        }
        guard Permission.isReadable(topicConfig.perm) else {
            return request.response(
                code: ResponseCode.noPermission, remark: "the topic[\(topic)] pulling message is forbidden")
        }
        guard queueId >= 0, queueId < topicConfig.readQueueNums else {
            return request.response(
                code: ResponseCode.systemError,
                remark:
                    "queueId[\(queueId)] is illegal, topic:[\(topic)] topicConfig.readQueueNums:[\(topicConfig.readQueueNums)]"
            )
        }
        let filter: SubscriptionExpression
        if sysFlag & PullSysFlag.subscription != 0 {
            let expressionType = request.optionalString("expressionType") ?? "TAG"
            guard expressionType == "TAG" else {
                return request.response(
                    code: ResponseCode.subscriptionParseFailed,
                    remark: "expression type \(expressionType) is not supported, only TAG")
            }
            filter = SubscriptionExpression(request.extFields["subscription"] ?? "*")
        } else {
            guard let subscription = broker.consumers.group(group)?.subscriptions[topic] else {
                return request.response(
                    code: ResponseCode.subscriptionNotExist,
                    remark: "the consumer's subscription not exist, group: \(group)")
            }
            filter = subscription.expression
        }
        if sysFlag & PullSysFlag.commitOffset != 0, commitOffset >= 0, broker.role.isMaster {
            broker.consumerOffsets.commit(group: group, topic: topic, queueId: queueId, offset: commitOffset)
        }

        let mayHold = sysFlag & PullSysFlag.suspend != 0
        let holdMillis = config.longPollingEnable ? suspendTimeoutMillis : Int64(config.shortPollingTimeMills)
        let deadline = currentTimeMillis().saturatingAdding(holdMillis)
        let key = TopicQueueKey(topic, queueId)
        while true {
            let result = broker.store.getMessage(
                topic: topic, queueId: queueId, offset: queueOffset, maxCount: maxMsgNums, filter: filter)
            let code = Self.responseCode(for: result, requestedOffset: queueOffset)
            if code == ResponseCode.pullNotFound, mayHold, currentTimeMillis() < deadline {
                let store = broker.store
                await broker.pullHold.wait(for: key, deadlineMillis: deadline) {
                    store.maxOffsetInQueue(topic, queueId) > queueOffset
                }
                if broker.isShuttingDown { return response(request, result, code, group: groupConfig) }
                continue
            }
            return response(request, result, code, group: groupConfig)
        }
    }

    /// The longest a pull is held (RocketMQ clients ask for 15 to 20 s).
    static let maxSuspendMillis: Int64 = 60_000

    func response(
        _ request: RemotingCommand, _ result: GetMessageResult, _ code: Int32, group: SubscriptionGroupConfig
    ) -> RemotingCommand {
        let fields = [
            "nextBeginOffset": String(result.nextBeginOffset), "minOffset": String(result.minOffset),
            "maxOffset": String(result.maxOffset),
            "suggestWhichBrokerId": String(Self.suggestedBroker(for: result, group: group, config: broker.config)),
        ]
        if code == ResponseCode.success { broker.stats.got(result.messageCount) }
        let remark = result.damage.map { "\(result.status.rawValue): \($0); skip to nextBeginOffset" }
        return request.response(
            code: code, remark: remark ?? result.status.rawValue, fields: fields,
            body: code == ResponseCode.success ? result.messages : nil)
    }

    /// Where the consumer should pull this queue next (RocketMQ 4.9): with `slaveReadEnable`, a
    /// consumer reading cold data goes to the group's `whichBrokerWhenConsumeSlowly` (a slave)
    /// and one that has caught up to the group's `brokerId` (the master); without it, the master.
    static func suggestedBroker(for result: GetMessageResult, group: SubscriptionGroupConfig, config: BrokerConfig)
        -> Int64
    {
        guard config.slaveReadEnable, !config.enableDLegerCommitLog else { return 0 }
        return result.readsColdData ? group.whichBrokerWhenConsumeSlowly : group.brokerId
    }

    /// The pull decision table (Java 4.9, master).
    static func responseCode(for result: GetMessageResult, requestedOffset: Int64) -> Int32 {
        switch result.status {
        case .found: ResponseCode.success
        case .noMatchedMessage, .messageWasRemoving, .messageDamaged: ResponseCode.pullRetryImmediately
        case .noMatchedLogicQueue, .noMessageInQueue:
            requestedOffset != 0 ? ResponseCode.pullOffsetMoved : ResponseCode.pullNotFound
        case .offsetFoundNull, .offsetOverflowOne: ResponseCode.pullNotFound
        case .offsetOverflowBadly, .offsetTooSmall: ResponseCode.pullOffsetMoved
        }
    }
}
