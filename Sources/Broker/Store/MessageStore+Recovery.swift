import Common
import DequeModule
import Logging
import NIOCore
import NIOPosix
import Remoting
import Synchronization

extension MessageStore {
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
        // Syncs run outside the store lock so puts never wait for the disk here.
        try state.withLock { $0.index }.flush()
        // Everything before this offset is durable: a crash recovery need not re-read it.
        let flushed = commitLog.flushedOffset
        if lastCheckpoint.exchange(flushed, ordering: .relaxed) != flushed {
            try StoreCheckpoint.write(flushed, to: checkpointPath)
        }
    }
}
