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
        if replicatedLog != nil {
            try startReplicated()
            return
        }
        let crashed = Directories.exists(abortPath)
        let checkpoint = try StoreCheckpoint.read(checkpointPath)
        try state.withLock { state in
            var local = CommitLog(directory: config.storePathCommitLog, segmentSize: config.mappedFileSizeCommitLog)
            let clock = ContinuousClock()
            let began = clock.now
            let end: Int64
            var cleanStop = false
            if !crashed, let checkpoint, try local.load(end: checkpoint) {
                end = checkpoint
                cleanStop = true
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
            var reputFrom = try loadConsumeQueues(commitLogEnd: end, state: &state)
            if config.messageIndexEnable, !cleanStop {
                // After a crash the index may lag the queues: re-dispatch from where it ends. (A
                // clean stop flushed it whole; its last key may lie far back when few messages
                // have keys, and re-reading from there would be a full scan.)
                reputFrom = min(reputFrom, max(local.minOffset, state.index.indexedThrough ?? local.minOffset))
            }
            let (redispatched, skipped, _, _) = try redispatch(from: reputFrom, end: end, state: &state)
            // A slave dispatches what its master sends from here on.
            state.reputOffset = end
            logger.info(
                "store recovered: CommitLog [\(local.minOffset), \(end)), \(state.consumeQueues.count) queues, \(redispatched) records re-dispatched, \(skipped) damaged records skipped"
            )
        }
        try AtomicFile.write("\(currentTimeMillis())\n", to: abortPath)
        writtenEnd.advance(to: commitLogMaxOffset)
    }

    /// Opens every ConsumeQueue, cutting entries past `commitLogEnd`, and sets the next queue
    /// offsets from them. Returns where their dispatch ends in the CommitLog.
    func loadConsumeQueues(commitLogEnd end: Int64, state: inout StoreState) throws -> Int64 {
        var reputFrom = state.commitLog.minOffset
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
        return reputFrom
    }

    /// Re-dispatches the records from `offset` on. A damaged record in the middle of the log
    /// (found after a clean stop, so not a torn tail) is reported and skipped, never a reason to
    /// refuse to start; queues that lack it get a hole in its place.
    func redispatch(from start: Int64, end: Int64, state: inout StoreState) throws -> (
        dispatched: Int, skipped: Int, next: Int64, queues: Set<TopicQueueKey>
    ) {
        var dispatched = 0
        var queues: Set<TopicQueueKey> = []
        var damagedOffsets: [Int64] = []
        var offset = start
        while offset < end {
            let next: (offset: Int64, record: ByteBuffer)?
            do {
                next = try state.commitLog.nextRecord(at: offset)
            } catch {
                // A damaged size word: nothing after it in this segment can be found.
                reportDamage(Self.readError(error, at: offset, in: state.commitLog), queue: nil)
                damagedOffsets.append(offset)
                offset = CommitLogScrubber.nextSegmentStart(after: offset, segmentSize: config.mappedFileSizeCommitLog)
                continue
            }
            // Nothing past `end` (a replicated log's commit point) is dispatched yet; what lies
            // between here and the next record (entry headers, no-ops, fillers) is passed over.
            guard let (at, record) = next else {
                offset = end
                break
            }
            guard at + Int64(record.readableBytes) <= end else {
                offset = min(at, end)
                break
            }
            offset = at + Int64(record.readableBytes)
            var buffer = record
            var problem = RecordScanner.problem(in: record)
            var decoded: MessageExt?
            if problem == nil {
                do {
                    decoded = try StoredMessageCodec.decode(from: &buffer, readBody: false)
                } catch {
                    problem = "does not decode: \(error)"
                }
            }
            guard let message = decoded else {
                let reason = problem ?? "does not decode"
                reportDamage(
                    .corruptRecord(path: state.commitLog.location(of: at), offset: at, reason: reason), queue: nil)
                damagedOffsets.append(at)
                continue
            }
            let key = TopicQueueKey(message.topic, message.queueId)
            if let lastDamaged = damagedOffsets.last, var queue = state.consumeQueues[key] {
                let holes = try queue.fillHoles(
                    upTo: message.queueOffset, damagedAt: lastDamaged, limit: Int64(damagedOffsets.count))
                if holes > 0 {
                    logger.warning("queue \(key): \(holes) offsets before \(message.queueOffset) lost to damage")
                }
                state.consumeQueues[key] = queue
            }
            try dispatch(dispatchRequest(for: message, at: at, size: Int32(record.readableBytes)), state: &state)
            // A replicated leader has handed out offsets past what is committed: never go back.
            state.queueOffsets[key] = max(state.queueOffsets[key] ?? 0, message.queueOffset + 1)
            queues.insert(key)
            dispatched += 1
        }
        return (dispatched, damagedOffsets.count, offset, queues)
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
        var failing: String?  // a failing disk is logged once per episode, not every interval
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(interval))
            let failure = await flushAll()
            if let failure, failing == nil { logger.error("flush failed: \(failure)") }
            if failure == nil, failing != nil { logger.warning("flush succeeds again") }
            failing = failure
        }
    }

    /// Flushes everything on the thread pool; returns why it failed, or nil.
    public func flushAll() async -> String? {
        do {
            try await NIOThreadPool.singleton.runIfActive { try self.flushNow() }
        } catch is CancellationError {
            flushAtShutdown()
        } catch {
            return "\(error)"
        }
        return nil
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
