import Common
import DLedgerStore
import DequeModule
import Logging
import NIOCore
import NIOPosix
import Remoting
import Storage
import Synchronization

extension MessageStore {
    // MARK: put

    /// Refuses (reason) or allows (nil) writes; logs only changes.
    public func setWritesBlocked(_ reason: String?) {
        let previous = writeBlock.withLock { block in
            defer { block = reason }
            return block
        }
        switch (previous, reason) {
        case (nil, let reason?):
            // A write that already failed for lack of space logged this episode's cause.
            if ioErrorEpisode.withLock({ $0 == nil }) {
                logger.error("writes refused: \(reason)")
            } else {
                logger.debug("writes refused: \(reason)")
            }
        case (_?, nil): logger.warning("writes accepted again: disk space recovered")
        default: break
        }
    }

    /// Stores messages (one, or a batch for one queue) and makes them visible to consumers.
    /// With SYNC_FLUSH, returns only after an fsync covered them (group commit). A put that fails
    /// part-way is rolled back: no part of it ever becomes visible.
    public func putMessages(_ messages: consuming [MessageExt]) async -> PutMessageResult {
        if let reason = writeBlock.withLock({ $0 }) {
            return PutMessageResult(status: .serviceNotAvailable(reason))
        }
        var arrivals: [TopicQueueKey] = []
        // Measured outside the lock; the records themselves need their offsets, assigned under it.
        let propertiesLengths = messages.map { StoredMessageCodec.storedPropertiesLength($0.properties) }
        // Taken over, not copied: the offsets set below mutate the caller's array in place.
        var prepared = consume messages
        let result: PutMessageResult
        var replication: (any ReplicatedLog)?
        var entry: ReplicatedEntry?
        var writtenEnd: Int64 = 0
        do {
            result = try state.withLock { state in
                let startOffset = state.commitLog.maxOffset
                let pendingBefore = state.pendingDispatch.count
                var appended: [AppendedMessage] = []
                appended.reserveCapacity(prepared.count)
                replication = state.commitLog.replication
                if let replication, !replication.acceptsMoreWaiters {
                    return PutMessageResult(status: .serviceNotAvailable("too many writes waiting for the quorum"))
                }
                do {
                    var sizes: [Int] = []
                    sizes.reserveCapacity(prepared.count)
                    for position in prepared.indices {
                        let key = TopicQueueKey(prepared[position].topic, prepared[position].queueId)
                        prepared[position].queueOffset = Self.takeNext(&state.queueOffsets[key, default: 0])
                        prepared[position].storeHost = config.storeHost
                        sizes.append(
                            StoredMessageCodec.encodedLength(
                                bodyLength: prepared[position].body.count,
                                topicLength: prepared[position].topic.utf8.count,
                                propertiesLength: propertiesLengths[position]))
                    }
                    entry = try state.commitLog.appendPut(sizes: sizes) { position, offset, record in
                        prepared[position].commitLogOffset = offset
                        StoredMessageCodec.encode(
                            prepared[position], propertiesLength: propertiesLengths[position], into: &record)
                    }.entry
                    for (position, message) in prepared.enumerated() {
                        // A replicated log is dispatched by the reput service up to its commit point.
                        if replication == nil {
                            state.pendingDispatch.append(
                                dispatchRequest(for: message, at: message.commitLogOffset, size: Int32(sizes[position]))
                            )
                        }
                        appended.append(
                            AppendedMessage(
                                commitLogOffset: message.commitLogOffset, size: sizes[position],
                                queueOffset: message.queueOffset, offsetMessageId: message.offsetMessageId))
                    }
                } catch {
                    // Undo this put: its records leave the CommitLog and are never dispatched.
                    // Backwards, so each queue ends at the offset its first message took (a queue
                    // that was at 0 may have had no entry: the same thing).
                    for message in prepared.reversed() {
                        let key = TopicQueueKey(message.topic, message.queueId)
                        state.queueOffsets[key] = message.queueOffset == 0 ? nil : message.queueOffset
                    }
                    state.pendingDispatch.removeLast(state.pendingDispatch.count - pendingBefore)
                    do {
                        try state.commitLog.truncate(to: startOffset)
                    } catch {
                        setWritesBlocked("rolling back a failed write failed (\(error)); restart the broker")
                    }
                    throw error
                }
                writtenEnd = state.commitLog.maxOffset
                arrivals = try drainDispatch(state: &state)
                return PutMessageResult(status: .putOK, appended: appended)
            }
        } catch let error as DLedgerServerError {
            // Not the leader (any more), a transfer, or this replica's disk: the client retries
            // on the master the NameServer names next.
            return PutMessageResult(status: .serviceNotAvailable("\(error)"))
        } catch {
            let cause = "\(error)"
            if ioErrorEpisode.withLock({ episode in
                defer { episode = cause }
                return episode == nil
            }) {
                logger.error(
                    "storing messages failed: \(cause); sends get SERVICE_NOT_AVAILABLE until writes succeed again")
            }
            return PutMessageResult(status: .serviceNotAvailable("the broker could not write the message: \(cause)"))
        }
        if ioErrorEpisode.withLock({ episode in
            defer { episode = nil }
            return episode != nil
        }) {
            logger.warning("writes succeed again")
        }
        if !arrivals.isEmpty { arrivalListener(arrivals) }
        // What HA connections stream (the local CommitLog only; DLedger replicates itself).
        if replication == nil, writtenEnd > 0 { self.writtenEnd.advance(to: writtenEnd) }
        if let replication, let entry {
            // SEND_OK only once a quorum has the entry (with SYNC_FLUSH, on disk). "Not stored"
            // only when another entry took its place: then a retry cannot store it twice.
            switch await replication.awaitCommit(of: entry, timeout: .milliseconds(config.quorumAckTimeoutMillis)) {
            case .committed: return result
            case .unknown(let reason):
                logger.debug("put at \(entry.position): outcome unknown: \(reason)")
                return PutMessageResult(status: .flushSlaveTimeout, appended: result.appended)
            case .lost(let reason): return PutMessageResult(status: .serviceNotAvailable(reason))
            }
        }
        if config.flushDiskType == .syncFlush, let last = result.appended.last {
            let end = last.commitLogOffset + Int64(last.size)
            let flushed = await groupCommit.waitForFlush(upTo: end) { [self] in
                let commitLog = state.withLock { $0.commitLog }
                try commitLog.flush()
                return commitLog.flushedOffset
            }
            if flushed != .reached { return PutMessageResult(status: .flushDiskTimeout, appended: result.appended) }
        }
        if let slaves = slaveAcknowledgements, let last = result.appended.last {
            // SYNC_MASTER: SEND_OK once a slave has the message too. Either way it is stored here.
            switch await slaves.waitForSlave(upTo: last.commitLogOffset + Int64(last.size)) {
            case .stored: break
            case .noSlave: return PutMessageResult(status: .slaveNotAvailable, appended: result.appended)
            case .timedOut: return PutMessageResult(status: .slaveAckTimeout, appended: result.appended)
            }
        }
        return result
    }

    /// The value, then one more (a queue's next offset, with one dictionary lookup).
    static func takeNext(_ value: inout Int64) -> Int64 {
        defer { value += 1 }
        return value
    }

    func dispatchRequest(for message: MessageExt, at offset: Int64, size: Int32) -> DispatchRequest {
        var tagsCode = TagHash.code(message.tags)
        if message.topic == SystemTopics.schedule, message.delayLevel > 0 {
            // The schedule queues hold the delivery time where other queues hold the tag hash.
            let level = min(message.delayLevel, config.delayLevelMillis.count)
            tagsCode = message.storeTimestamp + config.delayLevelMillis[level - 1]
        }
        return DispatchRequest(
            topic: message.topic, queueId: message.queueId, commitLogOffset: offset, size: size, tagsCode: tagsCode,
            storeTimestamp: message.storeTimestamp, queueOffset: message.queueOffset, sysFlag: message.sysFlag,
            keys: message.properties[MessageConst.keys], uniqueKey: message.uniqueKey)
    }

    /// Dispatches pending records below the CommitLog's dispatchable offset (all of them for the
    /// local CommitLog; only committed ones for a replicated one).
    func drainDispatch(state: inout StoreState) throws -> [TopicQueueKey] {
        var arrivals: [TopicQueueKey] = []
        let bound = state.commitLog.dispatchableOffset
        while let next = state.pendingDispatch.first, next.commitLogOffset + Int64(next.size) <= bound {
            // Removed only once dispatched: after an I/O error the next put retries it.
            try dispatch(next, state: &state)
            state.pendingDispatch.removeFirst()
            arrivals.append(TopicQueueKey(next.topic, next.queueId))
        }
        return arrivals
    }

    func dispatch(_ request: DispatchRequest, state: inout StoreState) throws {
        if config.messageIndexEnable { try state.index.build(request) }
        let transaction = MessageSysFlag.transactionValue(request.sysFlag)
        // Prepared and rolled-back transactional messages never reach a ConsumeQueue.
        guard transaction == MessageSysFlag.transactionNotType || transaction == MessageSysFlag.transactionCommitType
        else { return }
        let key = TopicQueueKey(request.topic, request.queueId)
        var queue =
            state.consumeQueues[key]
            ?? ConsumeQueue(
                rootDirectory: config.storePathConsumeQueue, topic: request.topic, queueId: request.queueId,
                entriesPerFile: config.consumeQueueEntriesPerFile)
        if request.queueOffset > queue.maxOffset {
            // A DLedger log that restarted at its leader's first entry: the records between are
            // gone everywhere (the leader's retention dropped them). Their offsets become holes,
            // which reads report and consumers skip.
            let holes = try queue.fillHoles(
                upTo: request.queueOffset, damagedAt: request.commitLogOffset, limit: .max)
            if holes > 0 { logger.warning("queue \(key): \(holes) offsets before \(request.queueOffset) are gone") }
        }
        try queue.append(
            ConsumeQueueEntry(
                commitLogOffset: request.commitLogOffset, messageSize: request.size, tagsCode: request.tagsCode),
            queueOffset: request.queueOffset)
        state.consumeQueues[key] = queue
    }
}
