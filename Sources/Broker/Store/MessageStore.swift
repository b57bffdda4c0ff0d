import Common
import DequeModule
import Logging
import NIOCore
import NIOPosix
import Remoting
import Synchronization

public struct MessageStoreConfig: Sendable {
    public var storePathRootDir: String
    public var storePathCommitLog: String
    public var mappedFileSizeCommitLog: Int
    /// Entries per ConsumeQueue file (RocketMQ's 300 000).
    public var consumeQueueEntriesPerFile: Int
    public var flushDiskType: FlushDiskType
    public var flushIntervalCommitLog: Int
    public var flushIntervalConsumeQueue: Int
    /// Delay per level in ms, level 1 first.
    public var delayLevelMillis: [Int64]
    public var maxTransferCountOnMessageInMemory: Int
    public var maxTransferBytesOnMessageInMemory: Int
    public var storeHost: HostAddress
    public var messageIndexEnable = true
    public var maxHashSlotNum = 5_000_000
    public var maxIndexNum = 20_000_000

    public var storePathConsumeQueue: String { storePathRootDir + "/consumequeue" }
    public var storePathIndex: String { storePathRootDir + "/index" }
}

/// The broker's store: the CommitLog (behind `CommitLogStorage`), ConsumeQueues built by dispatch,
/// flushing, and the read side used by pulls and queries.
///
/// All writes go through one lock: reserve → encode (with physical and queue offset) → append →
/// dispatch the records that became dispatchable. Readers take the same lock briefly.
public final class MessageStore: Sendable {
    public let config: MessageStoreConfig
    let logger: Logger
    let state: Mutex<StoreState>
    let groupCommit: GroupCommitService
    let lastCheckpoint = Atomic<Int64>(-1)
    /// Why writes are refused (the disk passed `diskSpaceWarningLevelRatio`), or nil.
    let writeBlock = Mutex<String?>(nil)
    /// The I/O error of the current failure episode (logged once), or nil while writes succeed.
    let ioErrorEpisode = Mutex<String?>(nil)
    /// Called (outside the lock) with the queues that received messages: wakes long polls.
    let arrivalListener: @Sendable ([TopicQueueKey]) -> Void

    struct StoreState: ~Copyable {
        var commitLog: any CommitLogStorage
        var consumeQueues: [TopicQueueKey: ConsumeQueue] = [:]
        /// Next queue offset to assign per queue (`topicQueueTable`).
        var queueOffsets: [TopicQueueKey: Int64] = [:]
        /// Appended records not yet in their ConsumeQueue (waiting to become dispatchable).
        var pendingDispatch = Deque<DispatchRequest>()
        var index: IndexService
    }

    public init(
        config: MessageStoreConfig, logger: Logger, arrivalListener: @escaping @Sendable ([TopicQueueKey]) -> Void
    ) {
        self.config = config
        self.logger = logger
        self.arrivalListener = arrivalListener
        let commitLog = CommitLog(directory: config.storePathCommitLog, segmentSize: config.mappedFileSizeCommitLog)
        let index = IndexService(
            directory: config.storePathIndex, slotCount: config.maxHashSlotNum, entryCount: config.maxIndexNum)
        state = Mutex(StoreState(commitLog: commitLog, index: index))
        groupCommit = GroupCommitService(logger: logger)
    }

    // MARK: start, recovery, shutdown

    var abortPath: String { config.storePathRootDir + "/abort" }
    var checkpointPath: String { config.storePathRootDir + "/checkpoint" }

    /// Recovers the CommitLog, the ConsumeQueues (entries the CommitLog still has), then
    /// re-dispatches CommitLog records the ConsumeQueues lack.
    ///
    /// After a clean stop (no `abort` file, a checkpoint) the CommitLog is not scanned. After a
    /// crash every record from the last checkpoint's durable offset on is validated (size, magic,
    /// lengths, body CRC) and a torn or corrupt tail is cut.
    public func start() throws {
        try Directories.create(config.storePathRootDir)
        let crashed = Directories.exists(abortPath)
        let checkpoint = try StoreCheckpoint.read(checkpointPath)
        try state.withLock { state in
            var local = CommitLog(directory: config.storePathCommitLog, segmentSize: config.mappedFileSizeCommitLog)
            let clock = ContinuousClock()
            let began = clock.now
            let end: Int64
            if !crashed, let checkpoint, try local.load(end: checkpoint) {
                end = checkpoint
                logger.info("clean restart: CommitLog ends at \(end) (checkpoint), no scan")
            } else if !crashed, checkpoint == nil, Directories.list(config.storePathCommitLog).isEmpty {
                end = try local.recover()
                logger.info("new store at \(config.storePathRootDir)")
            } else {
                end = try local.recover(trustedOffset: crashed ? (checkpoint ?? 0) : 0)
                logger.warning(
                    "abnormal recovery (\(crashed ? "abort file present" : "no usable checkpoint")): CommitLog valid through \(end), scanned from \(crashed ? checkpoint ?? 0 : 0) in \(clock.now - began)"
                )
            }
            state.commitLog = local
            if config.messageIndexEnable { try state.index.load(commitLogEnd: end) }
            var reputFrom = local.minOffset
            for topic in Directories.list(config.storePathConsumeQueue) {
                for queue in Directories.list(config.storePathConsumeQueue + "/" + topic) {
                    guard let queueId = Int32(queue) else { continue }
                    var consumeQueue = ConsumeQueue(
                        rootDirectory: config.storePathConsumeQueue, topic: topic, queueId: queueId,
                        entriesPerFile: config.consumeQueueEntriesPerFile)
                    try consumeQueue.recover(commitLogEnd: end)
                    let key = TopicQueueKey(topic, queueId)
                    state.consumeQueues[key] = consumeQueue
                    state.queueOffsets[key] = consumeQueue.maxOffset
                    reputFrom = max(reputFrom, consumeQueue.maxPhysicalOffset)
                }
            }
            if config.messageIndexEnable {
                // The index may lag the queues (or be new): re-dispatch from where it ends.
                reputFrom = min(reputFrom, max(local.minOffset, state.index.indexedThrough ?? local.minOffset))
            }
            var redispatched = 0
            var offset = reputFrom
            while let (at, record) = try state.commitLog.nextRecord(at: offset) {
                var buffer = record
                let message = try StoredMessageCodec.decode(from: &buffer, readBody: false)
                let request = dispatchRequest(for: message, at: at, size: Int32(record.readableBytes))
                try dispatch(request, state: &state)
                state.queueOffsets[TopicQueueKey(message.topic, message.queueId)] = message.queueOffset + 1
                offset = at + Int64(record.readableBytes)
                redispatched += 1
            }
            logger.info(
                "store recovered: CommitLog [\(local.minOffset), \(end)), \(state.consumeQueues.count) queues, \(redispatched) records re-dispatched"
            )
        }
        try AtomicFile.write("\(currentTimeMillis())\n", to: abortPath)
    }

    /// Clean stop: flush everything, record where the CommitLog ends, remove the abort marker.
    public func shutdown() {
        flushAtShutdown()
        let end = state.withLock { $0.commitLog.maxOffset }
        do {
            try StoreCheckpoint.write(end, to: checkpointPath)
            try Directories.remove(abortPath)
        } catch {
            logger.error("writing the shutdown checkpoint failed: \(error); the next start will scan")
        }
    }

    /// Runs the periodic flush until cancelled; flushes once more at the end.
    public func runFlushLoop() async {
        let interval =
            config.flushDiskType == .asyncFlush ? config.flushIntervalCommitLog : config.flushIntervalConsumeQueue
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(interval))
            await flushAll()
        }
    }

    public func flushAll() async {
        do {
            try await NIOThreadPool.singleton.runIfActive { try self.flushNow() }
        } catch is CancellationError {
            flushAtShutdown()
        } catch {
            logger.error("flush failed: \(error)")
        }
    }

    /// The last flush of a stopping broker: on the caller's thread, so cancellation cannot skip it.
    public func flushAtShutdown() {
        do {
            try flushNow()
        } catch {
            logger.error("flush at shutdown failed: \(error)")
        }
    }

    func flushNow() throws {
        let (commitLog, queues) = state.withLock { ($0.commitLog, Array($0.consumeQueues.values)) }
        try commitLog.flush()
        for queue in queues { try queue.flush() }
        try state.withLock { try $0.index.flush() }
        // Everything before this offset is durable: a crash recovery need not re-read it.
        let flushed = commitLog.flushedOffset
        if lastCheckpoint.exchange(flushed, ordering: .relaxed) != flushed {
            try StoreCheckpoint.write(flushed, to: checkpointPath)
        }
    }

    // MARK: put

    /// Refuses (reason) or allows (nil) writes; logs only changes.
    public func setWritesBlocked(_ reason: String?) {
        let previous = writeBlock.withLock { block in
            defer { block = reason }
            return block
        }
        switch (previous, reason) {
        case (nil, let reason?): logger.error("writes refused: \(reason)")
        case (_?, nil): logger.warning("writes accepted again: disk space recovered")
        default: break
        }
    }

    /// Stores messages (one, or a batch for one queue) and makes them visible to consumers.
    /// With SYNC_FLUSH, returns only after an fsync covered them (group commit). A put that fails
    /// part-way is rolled back: no part of it ever becomes visible.
    public func putMessages(_ messages: [MessageExt]) async -> PutMessageResult {
        if let reason = writeBlock.withLock({ $0 }) {
            return PutMessageResult(status: .serviceNotAvailable(reason))
        }
        var arrivals: [TopicQueueKey] = []
        let result: PutMessageResult
        do {
            result = try state.withLock { state in
                let startOffset = state.commitLog.maxOffset
                let pendingBefore = state.pendingDispatch.count
                var previousOffsets: [TopicQueueKey: Int64?] = [:]
                var appended: [AppendedMessage] = []
                do {
                    for var message in messages {
                        let key = TopicQueueKey(message.topic, message.queueId)
                        if previousOffsets[key] == nil { previousOffsets[key] = .some(state.queueOffsets[key]) }
                        message.queueOffset = state.queueOffsets[key] ?? 0
                        message.storeHost = config.storeHost
                        let size = StoredMessageCodec.encodedLength(of: message)
                        message.commitLogOffset = try state.commitLog.reserve(size: size)
                        var record = ByteBuffer()
                        StoredMessageCodec.encode(message, into: &record)
                        try state.commitLog.append(record, at: message.commitLogOffset)
                        state.queueOffsets[key] = message.queueOffset + 1
                        state.pendingDispatch.append(
                            dispatchRequest(for: message, at: message.commitLogOffset, size: Int32(size)))
                        appended.append(
                            AppendedMessage(
                                commitLogOffset: message.commitLogOffset, size: size, queueOffset: message.queueOffset,
                                offsetMessageId: message.offsetMessageId))
                    }
                } catch {
                    // Undo this put: its records leave the CommitLog and are never dispatched.
                    for (key, offset) in previousOffsets { state.queueOffsets[key] = offset }
                    state.pendingDispatch.removeLast(state.pendingDispatch.count - pendingBefore)
                    do {
                        try state.commitLog.truncate(to: startOffset)
                    } catch {
                        setWritesBlocked("rolling back a failed write failed (\(error)); restart the broker")
                    }
                    throw error
                }
                arrivals = try drainDispatch(state: &state)
                return PutMessageResult(status: .putOK, appended: appended)
            }
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
        if config.flushDiskType == .syncFlush, let last = result.appended.last {
            let end = last.commitLogOffset + Int64(last.size)
            let flushed = await groupCommit.waitForFlush(upTo: end) { [self] in
                let commitLog = state.withLock { $0.commitLog }
                try commitLog.flush()
                return commitLog.flushedOffset
            }
            if !flushed { return PutMessageResult(status: .flushDiskTimeout, appended: result.appended) }
        }
        return result
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
        if config.messageIndexEnable { try state.index.build(request, topic: request.topic) }
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
        try queue.append(
            ConsumeQueueEntry(
                commitLogOffset: request.commitLogOffset, messageSize: request.size, tagsCode: request.tagsCode),
            queueOffset: request.queueOffset)
        state.consumeQueues[key] = queue
    }

    // MARK: read

    public func maxOffsetInQueue(_ topic: String, _ queueId: Int32) -> Int64 {
        state.withLock { $0.consumeQueues[TopicQueueKey(topic, queueId)]?.maxOffset ?? 0 }
    }

    public func minOffsetInQueue(_ topic: String, _ queueId: Int32) -> Int64 {
        state.withLock { $0.consumeQueues[TopicQueueKey(topic, queueId)]?.minOffset ?? 0 }
    }

    public var commitLogMaxOffset: Int64 { state.withLock { $0.commitLog.maxOffset } }
    public var commitLogMinOffset: Int64 { state.withLock { $0.commitLog.minOffset } }

    /// Reads up to `maxCount` messages from a queue, filtered by tag hash (the pull decision table).
    public func getMessage(
        topic: String, queueId: Int32, offset: Int64, maxCount: Int, filter: SubscriptionExpression?
    ) -> GetMessageResult {
        state.withLock { state in
            guard let queue = state.consumeQueues[TopicQueueKey(topic, queueId)] else {
                return GetMessageResult(status: .noMatchedLogicQueue, nextBeginOffset: 0, minOffset: 0, maxOffset: 0)
            }
            let minOffset = queue.minOffset
            let maxOffset = queue.maxOffset
            var result = GetMessageResult(
                status: .noMatchedMessage, nextBeginOffset: offset, minOffset: minOffset, maxOffset: maxOffset)
            if maxOffset == 0 {
                result.status = .noMessageInQueue
                result.nextBeginOffset = 0
                return result
            }
            if offset < minOffset {
                result.status = .offsetTooSmall
                result.nextBeginOffset = minOffset
                return result
            }
            if offset == maxOffset {
                result.status = .offsetOverflowOne
                return result
            }
            if offset > maxOffset {
                result.status = .offsetOverflowBadly
                result.nextBeginOffset = maxOffset
                return result
            }
            let wanted = min(maxCount, config.maxTransferCountOnMessageInMemory)
            let scanLimit = max(16_000 / ConsumeQueueEntry.size, maxCount * 20)
            let entries: [ConsumeQueueEntry]
            do {
                entries = try queue.entries(from: offset, maxCount: scanLimit)
            } catch {
                logger.error("reading ConsumeQueue \(topic)-\(queueId) at \(offset) failed: \(error)")
                result.status = .offsetFoundNull
                return result
            }
            var scanned = 0
            let commitLogMin = state.commitLog.minOffset
            for entry in entries {
                if result.messageCount >= wanted { break }
                if result.messageCount > 0
                    && result.messages.readableBytes + Int(entry.messageSize) > config.maxTransferBytesOnMessageInMemory
                {
                    break
                }
                scanned += 1
                if entry.commitLogOffset < commitLogMin {
                    result.status = .messageWasRemoving
                    continue
                }
                if let filter, !filter.matches(tagsCode: entry.tagsCode) { continue }
                do {
                    var record = try state.commitLog.read(offset: entry.commitLogOffset, size: Int(entry.messageSize))
                    result.messages.writeBuffer(&record)
                    result.messageCount += 1
                } catch {
                    logger.error(
                        "reading CommitLog at \(entry.commitLogOffset) for \(topic)-\(queueId) failed: \(error)")
                    result.status = .messageWasRemoving
                }
            }
            result.nextBeginOffset = offset + Int64(scanned)
            if result.messageCount > 0 { result.status = .found }
            return result
        }
    }

    /// The stored record at a CommitLog offset.
    public func lookMessage(atCommitLogOffset offset: Int64) -> MessageExt? {
        guard var record = readRecord(atCommitLogOffset: offset) else { return nil }
        return try? StoredMessageCodec.decode(from: &record)
    }

    public func readRecord(atCommitLogOffset offset: Int64) -> ByteBuffer? {
        state.withLock { state in
            guard offset >= state.commitLog.minOffset, offset + 4 <= state.commitLog.maxOffset,
                var head = try? state.commitLog.read(offset: offset, size: 4),
                let size = head.readInteger(as: Int32.self),
                size >= Int32(StoredMessageCodec.fixedLength)
            else { return nil }
            return try? state.commitLog.read(offset: offset, size: Int(size))
        }
    }

    public func consumeQueueEntry(_ topic: String, _ queueId: Int32, at queueOffset: Int64) -> ConsumeQueueEntry? {
        state.withLock { try? $0.consumeQueues[TopicQueueKey(topic, queueId)]?.entry(at: queueOffset) }
    }

    /// Store timestamp of the message at a queue offset, or nil.
    public func storeTime(_ topic: String, _ queueId: Int32, at queueOffset: Int64) -> Int64? {
        guard let entry = consumeQueueEntry(topic, queueId, at: queueOffset),
            let record = readRecord(atCommitLogOffset: entry.commitLogOffset)
        else { return nil }
        return record.getInteger(at: record.readerIndex + StoredMessageCodec.storeTimestampPosition, as: Int64.self)
    }

    /// First queue offset whose store time is at or after `timestamp` (binary search).
    public func offsetInQueue(byTime timestamp: Int64, _ topic: String, _ queueId: Int32) -> Int64 {
        var low = minOffsetInQueue(topic, queueId)
        var high = maxOffsetInQueue(topic, queueId)
        while low < high {
            let middle = low + (high - low) / 2
            guard let time = storeTime(topic, queueId, at: middle) else {
                low = middle + 1
                continue
            }
            if time < timestamp { low = middle + 1 } else { high = middle }
        }
        return low
    }

    public var queueKeys: [TopicQueueKey] { state.withLock { Array($0.consumeQueues.keys) } }

    public struct CleanResult: Sendable, Equatable {
        public var commitLogFiles = 0
        public var consumeQueueFiles = 0
        public var indexFiles = 0
    }

    /// Retention: deletes CommitLog segments last written before `cutoffMillis` (when nil: all
    /// but the current one, oldest first, at most `maxFiles`), then ConsumeQueue and index files
    /// that only point below the new CommitLog minimum; queue min offsets move up.
    public func cleanExpiredFiles(writtenBefore cutoffMillis: Int64?, maxFiles: Int = 10) -> CleanResult {
        state.withLock { state in
            var result = CleanResult()
            result.commitLogFiles = state.commitLog.deleteExpiredSegments(
                writtenBefore: cutoffMillis, maxFiles: maxFiles)
            let minimum = state.commitLog.minOffset
            for key in Array(state.consumeQueues.keys) {
                do {
                    result.consumeQueueFiles += try state.consumeQueues[key]!.deleteExpired(commitLogMin: minimum)
                } catch {
                    logger.error("cleaning ConsumeQueue \(key) failed: \(error)")
                }
            }
            result.indexFiles = state.index.deleteExpired(commitLogMin: minimum)
            return result
        }
    }

    /// Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key` (only the latter when
    /// `uniqueKeyOnly`), stored within [begin, end], newest first (QUERY_MESSAGE).
    public func queryMessages(
        topic: String, key: String, maxCount: Int, beginMillis: Int64, endMillis: Int64, uniqueKeyOnly: Bool
    ) -> (messages: ByteBuffer, count: Int, lastUpdateTimestamp: Int64, lastUpdatePhyOffset: Int64) {
        let (offsets, lastUpdate) = state.withLock { state in
            (
                state.index.query(
                    key: topic + "#" + key, beginMillis: beginMillis, endMillis: endMillis, maxCount: maxCount),
                state.index.lastUpdate
            )
        }
        var messages = ByteBuffer()
        var count = 0
        for offset in offsets {
            guard var record = readRecord(atCommitLogOffset: offset) else { continue }
            var copy = record
            // Hash collisions and stale entries: keep only exact matches.
            guard let message = try? StoredMessageCodec.decode(from: &copy, readBody: false), message.topic == topic,
                message.uniqueKey == key || (!uniqueKeyOnly && message.keys.contains(key))
            else { continue }
            messages.writeBuffer(&record)
            count += 1
        }
        return (messages, count, lastUpdate.timestamp, lastUpdate.phyOffset)
    }
}

/// SYNC_FLUSH group commit: concurrent senders wait on one fsync that covers all of them.
final class GroupCommitService: Sendable {
    struct Waiter {
        var offset: Int64
        var continuation: CheckedContinuation<Bool, Never>
    }
    struct State {
        var waiters: [Waiter] = []
        var running = false
    }
    let state = Mutex(State())
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Waits until `flush` has made `offset` durable; false if flushing failed.
    func waitForFlush(upTo offset: Int64, flush: @escaping @Sendable () throws -> Int64) async -> Bool {
        await withCheckedContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.waiters.append(Waiter(offset: offset, continuation: continuation))
                guard !state.running else { return false }
                state.running = true
                return true
            }
            if start {
                Task.detached { [self] in await self.flushLoop(flush) }
            }
        }
    }

    private func flushLoop(_ flush: @escaping @Sendable () throws -> Int64) async {
        while true {
            let batch = state.withLock { state -> [Waiter] in
                defer { state.waiters.removeAll() }
                if state.waiters.isEmpty { state.running = false }
                return state.waiters
            }
            if batch.isEmpty { return }
            var flushedOffset: Int64 = -1
            do {
                flushedOffset = try await NIOThreadPool.singleton.runIfActive { try flush() }
            } catch {
                logger.error("sync flush failed: \(error)")
            }
            var pending: [Waiter] = []
            for waiter in batch {
                if flushedOffset >= waiter.offset {
                    waiter.continuation.resume(returning: true)
                } else if flushedOffset < 0 {
                    waiter.continuation.resume(returning: false)
                } else {
                    pending.append(waiter)
                }
            }
            if !pending.isEmpty { state.withLock { $0.waiters.append(contentsOf: pending) } }
        }
    }
}
