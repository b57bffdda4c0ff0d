import Common
import Logging
import NIOCore
import Remoting
import Storage

/// Transactional (half) messages (`TransactionalMessageServiceImpl`).
///
/// A prepared message is stored in `RMQ_SYS_TRANS_HALF_TOPIC` queue 0 with its real topic and
/// queue in `REAL_TOPIC`/`REAL_QID`, invisible to consumers. Commit re-stores it in its real
/// topic; commit and rollback both write an op record (tag `d`, body = the half message's queue
/// offset) to `RMQ_SYS_TRANS_OP_HALF_TOPIC`. A check round walks the half queue from the last
/// resolved offset: a half message without an op record, older than `transactionTimeOut`, is
/// appended again with one more `TRANSACTION_CHECK_TIMES` and its producer group is asked with
/// CHECK_TRANSACTION_STATE; after `transactionCheckMax` checks it is parked in
/// `TRANS_CHECK_MAX_TIME_TOPIC`. Progress in both queues is kept as the offsets of the
/// internal group `CID_RMQ_SYS_TRANS`, so it survives restarts.
struct TransactionalMessageService: Sendable {
    static let internalGroup = "CID_RMQ_SYS_TRANS"
    static let opTag = "d"
    let broker: BrokerController

    var store: MessageStore { broker.store }

    /// The half message stored in place of a prepared one.
    static func halfMessage(of message: MessageExt) -> MessageExt {
        var half = message
        half.properties[MessageConst.realTopic] = message.topic
        half.properties[MessageConst.realQueueId] = String(message.queueId)
        half.sysFlag = MessageSysFlag.resetTransactionValue(message.sysFlag, MessageSysFlag.transactionNotType)
        half.topic = SystemTopics.transactionHalf
        half.queueId = 0
        return half
    }

    /// The message a commit makes visible, in its real topic and queue.
    static func committedMessage(of half: MessageExt) -> MessageExt {
        var message = half
        message.topic = half.properties[MessageConst.realTopic] ?? half.topic
        message.queueId = Int32(half.properties[MessageConst.realQueueId] ?? "") ?? 0
        for key in [
            MessageConst.realTopic, MessageConst.realQueueId, MessageConst.transactionPrepared,
            MessageConst.transactionCheckTimes,
        ] {
            message.properties[key] = nil
        }
        message.properties[MessageConst.wait] = "false"
        message.sysFlag = MessageSysFlag.resetTransactionValue(half.sysFlag, MessageSysFlag.transactionCommitType)
        message.preparedTransactionOffset = half.commitLogOffset
        return message
    }

    enum EndError: Error, CustomStringConvertible {
        case notFound(Int64)
        case unreadable(StoreError)
        case mismatch(String)
        case store(PutMessageStatus)

        var description: String {
            switch self {
            case .notFound(let offset): "Find prepared transaction message failed: no half message at \(offset)"
            case .unreadable(let error): "Find prepared transaction message failed: \(error)"
            case .mismatch(let what): "The half message does not match the request: \(what)"
            case .store(let status): "storing the transaction outcome failed: \(status)"
            }
        }
    }

    /// Commits (8) or rolls back (12) the half message at `commitLogOffset`.
    func end(
        producerGroup: String, commitLogOffset: Int64, queueOffset: Int64, commit: Bool
    ) async throws(EndError) {
        let stored: MessageExt?
        do {
            stored = try store.lookMessage(atCommitLogOffset: commitLogOffset)
        } catch {
            throw .unreadable(error)
        }
        guard let half = stored, half.topic == SystemTopics.transactionHalf else { throw .notFound(commitLogOffset) }
        guard half.properties[MessageConst.producerGroup] == producerGroup else {
            throw .mismatch(
                "producer group \(producerGroup) is not \(half.properties[MessageConst.producerGroup] ?? "")")
        }
        guard half.queueOffset == queueOffset else {
            throw .mismatch("queue offset \(queueOffset) is not \(half.queueOffset)")
        }
        if commit {
            let message = broker.applyDelayLevel(Self.committedMessage(of: half))
            let result = await store.putMessages([message])
            guard result.status.isStored else { throw .store(result.status) }
        }
        let op = await store.putMessages([opRecord(forHalfOffset: half.queueOffset)])
        guard op.status.isStored else { throw .store(op.status) }
    }

    func opRecord(forHalfOffset offset: Int64) -> MessageExt {
        var op = MessageExt()
        op.topic = SystemTopics.transactionOpHalf
        op.queueId = 0
        op.body = Array(String(offset).utf8)
        op.properties = [MessageConst.tags: Self.opTag, MessageConst.wait: "false"]
        op.bornTimestamp = currentTimeMillis()
        op.storeTimestamp = op.bornTimestamp
        op.properties[MessageConst.cluster] = broker.config.brokerClusterName
        return op
    }

    // MARK: check

    /// One check round; returns how many half messages were checked. A queue that cannot be
    /// read ends the round (logged); the next round starts again where this one stopped.
    @discardableResult
    func checkRound(now: Int64) async -> Int {
        do {
            return try await checkHalfQueue(now: now)
        } catch {
            broker.logger.error("transaction check round stopped: \(error); the next round retries")
            return 0
        }
    }

    /// The message a ConsumeQueue entry points at; nil (logged) when it is damaged or gone, so
    /// one bad record never blocks the queue. Unreadable ConsumeQueues throw.
    func message(at entry: ConsumeQueueEntry, what: String) -> MessageExt? {
        do {
            guard let message = try store.lookMessage(atCommitLogOffset: entry.commitLogOffset) else {
                broker.logger.warning("\(what) at CommitLog offset \(entry.commitLogOffset) is gone; skipped")
                return nil
            }
            return message
        } catch {
            broker.logger.warning("\(what) at CommitLog offset \(entry.commitLogOffset) skipped: \(error)")
            return nil
        }
    }

    private func checkHalfQueue(now: Int64) async throws -> Int {
        let half = SystemTopics.transactionHalf
        let opTopic = SystemTopics.transactionOpHalf
        let offsets = broker.consumerOffsets
        let halfMax = store.maxOffsetInQueue(half, 0)
        var halfOffset = max(
            offsets.query(group: Self.internalGroup, topic: half, queueId: 0) ?? 0, store.minOffsetInQueue(half, 0))
        guard halfOffset < halfMax else { return 0 }
        let opStart = max(
            offsets.query(group: Self.internalGroup, topic: opTopic, queueId: 0) ?? 0,
            store.minOffsetInQueue(opTopic, 0))
        let ops = try resolvedHalfOffsets(from: opStart)
        let resolved = Set(ops.map(\.halfOffset))
        var checked = 0
        scan: while halfOffset < halfMax {
            defer { halfOffset += 1 }
            guard !resolved.contains(halfOffset) else { continue }
            guard let entry = try store.consumeQueueEntry(half, 0, at: halfOffset) else { continue }
            guard let message = message(at: entry, what: "half message \(halfOffset)") else { continue }
            if now - message.storeTimestamp < Int64(broker.config.transactionTimeOut) {
                halfOffset -= 1  // younger than the timeout, as is everything after it
                break scan
            }
            let checks = Int(message.properties[MessageConst.transactionCheckTimes] ?? "") ?? 0
            if checks >= broker.config.transactionCheckMax {
                await discard(message)
                continue
            }
            var again = message
            again.properties[MessageConst.transactionCheckTimes] = String(checks + 1)
            again.storeTimestamp = now
            let result = await store.putMessages([again])
            guard result.status.isStored, let appended = result.appended.first else {
                broker.logger.error("re-storing half message for a check failed: \(result.status); will retry")
                halfOffset -= 1
                break scan
            }
            again.commitLogOffset = appended.commitLogOffset
            again.queueOffset = appended.queueOffset
            sendCheck(again)
            checked += 1
        }
        offsets.commit(group: Self.internalGroup, topic: half, queueId: 0, offset: halfOffset)
        // Op records below the new half offset are no longer needed.
        var opOffset = opStart
        for op in ops {
            guard op.halfOffset < halfOffset, op.opOffset == opOffset else { break }
            opOffset += 1
        }
        offsets.commit(group: Self.internalGroup, topic: opTopic, queueId: 0, offset: opOffset)
        return checked
    }

    /// Op records from `start`: (op queue offset, half queue offset it resolves).
    func resolvedHalfOffsets(from start: Int64) throws -> [(opOffset: Int64, halfOffset: Int64)] {
        var ops: [(Int64, Int64)] = []
        var offset = start
        while let entry = try store.consumeQueueEntry(SystemTopics.transactionOpHalf, 0, at: offset) {
            if let op = message(at: entry, what: "transaction op record \(offset)"),
                let halfOffset = Int64(String(decoding: op.body, as: UTF8.self))
            {
                ops.append((offset, halfOffset))
            } else {
                ops.append((offset, -1))
            }
            offset += 1
        }
        return ops
    }

    /// Gives up on a half message checked `transactionCheckMax` times: it is kept, for audit, in
    /// `TRANS_CHECK_MAX_TIME_TOPIC`.
    func discard(_ message: MessageExt) async {
        broker.logger.warning(
            "transaction \(message.uniqueKey ?? "?") of group \(message.properties[MessageConst.producerGroup] ?? "?") checked \(broker.config.transactionCheckMax) times without an answer; discarded"
        )
        var parked = message
        parked.topic = SystemTopics.transactionCheckMaxTime
        parked.queueId = 0
        _ = await store.putMessages([parked])
    }

    /// CHECK_TRANSACTION_STATE (one-way) to one live producer of the message's group.
    func sendCheck(_ half: MessageExt) {
        let group = half.properties[MessageConst.producerGroup] ?? ""
        guard let producer = broker.producers.clients(of: group).randomElement() else {
            broker.logger.warning("no producer of group \(group) online to check transaction \(half.uniqueKey ?? "?")")
            return
        }
        var shown = half
        shown.topic = half.properties[MessageConst.realTopic] ?? half.topic
        shown.queueId = Int32(half.properties[MessageConst.realQueueId] ?? "") ?? 0
        shown.storeSize = 0
        let fields = [
            "tranStateTableOffset": String(half.queueOffset), "commitLogOffset": String(half.commitLogOffset),
            "msgId": half.uniqueKey ?? "", "transactionId": half.uniqueKey ?? "",
            "offsetMsgId": half.offsetMessageId,
        ]
        producer.connection.sendOneway(
            .request(
                code: RequestCode.checkTransactionState, fields: fields, body: StoredMessageCodec.encode(shown)))
    }
}
