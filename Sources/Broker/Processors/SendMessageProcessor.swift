import Common
import NIOCore
import Remoting

/// SEND_MESSAGE (10/310/320) and CONSUMER_SEND_MSG_BACK (36).
struct SendMessageProcessor: Sendable {
    let broker: BrokerController

    func send(_ request: RemotingCommand, from connection: RemotingConnection) async throws -> RemotingCommand {
        let header = try SendMessageRequestHeader(request)
        let config = broker.config
        let role = broker.role.current
        guard role.isMaster else {
            return request.response(
                code: ResponseCode.serviceNotAvailable,
                remark: "the broker is \(role), not the master: it does not accept messages")
        }
        guard Permission.isWritable(config.brokerPermission) else {
            return request.response(
                code: ResponseCode.noPermission, remark: "the broker[\(config.brokerIP1)] sending message is forbidden")
        }
        if let problem = SystemTopics.validate(header.topic) {
            return request.response(code: ResponseCode.systemError, remark: problem)
        }
        if SystemTopics.notAllowedToSend.contains(header.topic) {
            return request.response(
                code: ResponseCode.noPermission, remark: "Sending message to topic[\(header.topic)] is forbidden.")
        }
        guard let topicConfig = await resolveTopic(header) else {
            return request.response(
                code: ResponseCode.topicNotExist, remark: "topic[\(header.topic)] not exist, apply first please!")
        }
        var queueId = header.queueId
        if queueId < 0 { queueId = Int32.random(in: 0..<max(1, topicConfig.writeQueueNums)) }
        guard queueId < max(topicConfig.readQueueNums, topicConfig.writeQueueNums) else {
            return request.response(
                code: ResponseCode.systemError,
                remark:
                    "request queueId[\(queueId)] is illegal, \(topicConfig.topicName) Producer: \(connection.remoteAddress)"
            )
        }
        let prepared = MessageSysFlag.transactionValue(header.sysFlag) == MessageSysFlag.transactionPreparedType
        if prepared, config.rejectTransactionMessage || header.batch {
            return request.response(
                code: ResponseCode.noPermission,
                remark: header.batch
                    ? "a batch cannot be transactional"
                    : "the broker[\(config.brokerIP1)] sending transaction message is forbidden")
        }

        var messages: [MessageExt]
        let body = request.body ?? ByteBuffer()
        if header.batch {
            var batchBody = body
            if header.sysFlag & MessageSysFlag.compressed != 0 {
                do {
                    batchBody = ByteBuffer(
                        bytes: try Zlib.decompress(Array(body.readableBytesView), limit: config.maxMessageSize))
                } catch {
                    return request.response(
                        code: ResponseCode.messageIllegal, remark: "the compressed batch cannot be inflated: \(error)")
                }
            }
            let batch: [BatchedMessage]
            do {
                batch = try BatchedMessage.decodeBatch(batchBody)
            } catch {
                return request.response(code: ResponseCode.messageIllegal, remark: "bad batch body: \(error)")
            }
            guard !batch.isEmpty, batch.count <= 10_000 else {
                return request.response(code: ResponseCode.messageIllegal, remark: "a batch holds 1 to 10000 messages")
            }
            messages = batch.map { inner in
                var properties = header.properties.merging(inner.properties) { _, innerValue in innerValue }
                properties[MessageConst.wait] = nil
                return makeMessage(
                    header, connection: connection, queueId: queueId, flag: inner.flag,
                    sysFlag: header.sysFlag & ~MessageSysFlag.compressed, body: inner.body, properties: properties)
            }
            if messages.contains(where: { $0.delayLevel > 0 }) || header.topic.hasPrefix(SystemTopics.retryGroupPrefix)
            {
                return request.response(
                    code: ResponseCode.messageIllegal, remark: "batch messages cannot be delayed or retried")
            }
        } else {
            var properties = header.properties
            properties[MessageConst.wait] = nil
            messages = [
                makeMessage(
                    header, connection: connection, queueId: queueId, flag: header.flag, sysFlag: header.sysFlag,
                    body: Array(body.readableBytesView), properties: properties)
            ]
        }
        for index in messages.indices {
            if topicConfig.topicFilterType == TopicConfig.multiTag {
                messages[index].sysFlag |= MessageSysFlag.multiTags
            }
            if let problem = check(messages[index]) {
                return request.response(code: ResponseCode.messageIllegal, remark: problem)
            }
        }
        if !header.batch, header.topic.hasPrefix(SystemTopics.retryGroupPrefix) {
            let group = String(header.topic.dropFirst(SystemTopics.retryGroupPrefix.count))
            let maxTimes =
                header.maxReconsumeTimes ?? broker.subscriptionGroups.findOrCreate(group)?.retryMaxTimes ?? 16
            if header.reconsumeTimes >= maxTimes { messages[0] = await toDeadLetter(messages[0], group: group) }
        }
        if prepared {
            messages[0] = TransactionalMessageService.halfMessage(of: messages[0])
        } else if !header.batch {
            messages[0] = broker.applyDelayLevel(messages[0])
        }

        let result = await broker.store.putMessages(messages)
        var fields: [String: String] = [:]
        fields.reserveCapacity(5)
        fields["MSG_REGION"] = "DefaultRegion"
        fields["TRACE_ON"] = "true"
        if result.status.isStored { broker.stats.put(result.appended.count) }
        if let first = result.appended.first {
            fields["msgId"] =
                result.appended.count == 1
                ? first.offsetMessageId : result.appended.map(\.offsetMessageId).joined(separator: ",")
            fields["queueId"] = String(queueId)
            fields["queueOffset"] = String(first.queueOffset)
        }
        return request.response(code: result.status.responseCode, remark: result.status.remark, fields: fields)
    }

    func makeMessage(
        _ header: SendMessageRequestHeader, connection: RemotingConnection, queueId: Int32, flag: Int32, sysFlag: Int32,
        body: [UInt8], properties: [String: String]
    ) -> MessageExt {
        var message = MessageExt()
        message.topic = header.topic
        message.queueId = queueId
        message.flag = flag
        message.sysFlag = sysFlag
        message.body = body
        message.properties = properties
        message.properties[MessageConst.cluster] = broker.config.brokerClusterName
        message.bornTimestamp = header.bornTimestamp
        message.bornHost = connection.remoteHost
        message.storeTimestamp = currentTimeMillis()
        message.reconsumeTimes = header.reconsumeTimes
        return message
    }

    func check(_ message: MessageExt) -> String? {
        if message.body.count > broker.config.maxMessageSize {
            return "message body size \(message.body.count) exceeds maxMessageSize \(broker.config.maxMessageSize)"
        }
        // A body flagged compressed that does not inflate would make every consumer of the
        // topic fail (the stock C++ consumer aborts): refuse it. Only flagged bodies pay.
        if message.sysFlag & MessageSysFlag.compressed != 0 {
            do {
                _ = try Zlib.inflatedLength(message.body, limit: broker.config.maxMessageSize)
            } catch {
                return "the body is flagged compressed but is not zlib data within maxMessageSize: \(error)"
            }
        }
        if StoredMessageCodec.storedPropertiesLength(message.properties) > MessageExt.maxPropertiesLength {
            return "message properties exceed \(MessageExt.maxPropertiesLength) bytes"
        }
        return nil
    }

    /// The topic's config; unknown topics are auto-created from the default topic (or, for
    /// `%RETRY%` topics, with one queue). Creation triggers a registration with the NameServers.
    func resolveTopic(_ header: SendMessageRequestHeader) async -> TopicConfig? {
        if let existing = broker.topics.select(header.topic) { return existing }
        let created: (TopicConfig, created: Bool)?
        if header.topic.hasPrefix(SystemTopics.retryGroupPrefix) {
            created = broker.topics.createTopicIfAbsent(
                header.topic, queueNums: 1, perm: Permission.read | Permission.write)
        } else {
            created = broker.topics.createTopicInSendMessageMethod(
                header.topic, defaultTopic: header.defaultTopic,
                clientDefaultTopicQueueNums: header.defaultTopicQueueNums,
                topicSysFlag: 0)
        }
        if let created, created.created {
            broker.logger.info("topic \(header.topic) auto-created: \(created.0.encoded)")
            await broker.registerWithNameServers()
        }
        return created?.0
    }

    func toDeadLetter(_ message: MessageExt, group: String) async -> MessageExt {
        var message = message
        let dlq = SystemTopics.dlqTopic(for: group)
        let (config, created) = broker.topics.createTopicIfAbsent(
            dlq, queueNums: 1, perm: Permission.read | Permission.write)
        if created { await broker.registerWithNameServers() }
        message.topic = dlq
        message.queueId = Int32.random(in: 0..<max(1, config.writeQueueNums))
        message.properties[MessageConst.delayTimeLevel] = nil
        return message
    }

    // MARK: CONSUMER_SEND_MSG_BACK

    func consumerSendMessageBack(_ request: RemotingCommand) async throws -> RemotingCommand {
        let offset = try request.int64("offset", in: 0...Int64.max)
        let group = try request.string("group")
        let delayLevel = try request.int32("delayLevel")
        guard let groupConfig = broker.subscriptionGroups.findOrCreate(group) else {
            return request.response(
                code: ResponseCode.subscriptionGroupNotExist, remark: "subscription group not exist, \(group)")
        }
        guard Permission.isWritable(broker.config.brokerPermission) else {
            return request.response(code: ResponseCode.noPermission, remark: "the broker sending message is forbidden")
        }
        guard broker.role.isMaster else {
            return request.response(code: ResponseCode.serviceNotAvailable, remark: "the broker is not the master")
        }
        guard groupConfig.retryQueueNums > 0 else { return request.response(code: ResponseCode.success) }
        let retryTopic = SystemTopics.retryTopic(for: group)
        let (retryConfig, created) = broker.topics.createTopicIfAbsent(
            retryTopic, queueNums: groupConfig.retryQueueNums, perm: Permission.read | Permission.write)
        if created { await broker.registerWithNameServers() }
        guard let original = try broker.store.lookMessage(atCommitLogOffset: offset) else {
            return request.response(code: ResponseCode.systemError, remark: "look message by offset failed, \(offset)")
        }
        var message = original
        if message.properties[MessageConst.retryTopic] == nil {
            message.properties[MessageConst.retryTopic] = original.topic
        }
        message.properties[MessageConst.wait] = "false"
        message.properties[MessageConst.originMessageId] =
            original.properties[MessageConst.originMessageId] ?? original.offsetMessageId
        var maxTimes = groupConfig.retryMaxTimes
        if request.version >= 121 {
            maxTimes = try request.optionalInteger("maxReconsumeTimes", default: maxTimes, in: -1...Int32.max)
        }
        // Stored values are as untrusted as wire values: saturate, never trap.
        message.reconsumeTimes = original.reconsumeTimes.saturatingAdding(1)
        message.storeTimestamp = currentTimeMillis()
        message.properties[MessageConst.delayTimeLevel] = nil
        message.properties.removeValue(forKey: MessageConst.realTopic)
        message.properties.removeValue(forKey: MessageConst.realQueueId)
        if original.reconsumeTimes >= maxTimes || delayLevel < 0 {
            message = await toDeadLetter(message, group: group)
        } else {
            message.topic = retryTopic
            message.queueId = Int32.random(in: 0..<max(1, retryConfig.writeQueueNums))
            let level = delayLevel == 0 ? original.reconsumeTimes.saturatingAdding(3) : delayLevel
            message.properties[MessageConst.delayTimeLevel] = String(level)
            message = broker.applyDelayLevel(message)
        }
        let result = await broker.store.putMessages([message])
        guard result.status.isStored else {
            return request.response(code: ResponseCode.systemError, remark: "\(result.status)")
        }
        return request.response(code: ResponseCode.success)
    }
}
