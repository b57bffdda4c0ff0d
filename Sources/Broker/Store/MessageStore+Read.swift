import Common
import DequeModule
import Logging
import NIOCore
import NIOPosix
import Remoting
import Storage
import Synchronization

extension MessageStore {
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
            // Tag filters may skip entries: scan ahead up to 16,000 bytes of the ConsumeQueue, as RocketMQ.
            let filtering = filter.map { !$0.matchesAll } ?? false
            let scanLimit = filtering ? max(16_000 / ConsumeQueueEntry.size, wanted * 20) : wanted
            let entries: [ConsumeQueueEntry]
            do {
                entries = try queue.entries(from: offset, maxCount: scanLimit)
            } catch {
                logger.error("reading ConsumeQueue \(topic)-\(queueId) at \(offset) failed: \(error)")
                result.status = .offsetFoundNull
                return result
            }
            var scanned = 0
            var selected: [ConsumeQueueEntry] = []
            var selectedOffsets: [Int64] = []
            var selectedBytes = 0
            let commitLogMin = state.commitLog.minOffset
            for entry in entries {
                if selected.count >= wanted { break }
                if !selected.isEmpty
                    && selectedBytes + Int(entry.messageSize) > config.maxTransferBytesOnMessageInMemory
                {
                    break
                }
                scanned += 1
                if entry.commitLogOffset < commitLogMin {
                    result.status = .messageWasRemoving
                    continue
                }
                if let filter, !filter.matches(tagsCode: entry.tagsCode) { continue }
                selected.append(entry)
                selectedOffsets.append(offset + Int64(scanned - 1))
                selectedBytes += Int(entry.messageSize)
            }
            if let damage = readRecords(selected, from: state.commitLog, into: &result) {
                // Serve what came before the damaged record; a pull that starts at it is told so
                // and skips it (PULL_RETRY_IMMEDIATELY with the next offset, as for a filtered one).
                if result.messageCount > 0 {
                    result.nextBeginOffset = selectedOffsets[damage.index]
                    result.status = .found
                } else {
                    result.nextBeginOffset = selectedOffsets[damage.index] + 1
                    result.status = .messageDamaged
                    result.damage = "\(damage.error)"
                }
                reportDamage(damage.error, queue: "\(topic)-\(queueId)")
                return result
            }
            result.nextBeginOffset = offset + Int64(scanned)
            if result.messageCount > 0 { result.status = .found }
            if config.accessMessageInMemoryMaxBytes < .max, let last = entries.prefix(scanned).last {
                let behind = state.commitLog.maxOffset.saturatingSubtracting(last.commitLogOffset)
                result.readsColdData = behind > config.accessMessageInMemoryMaxBytes
            }
            return result
        }
    }

    /// Appends the verified records of `entries` to `result`, in order, up to the first one that
    /// is damaged, unreadable or a hole (returned with its index). Adjacent records (a queue
    /// written alone is one run) are read in one call, then checked one by one.
    func readRecords(
        _ entries: [ConsumeQueueEntry], from commitLog: any CommitLogStorage, into result: inout GetMessageResult
    ) -> (index: Int, error: StoreError)? {
        func damage(_ index: Int, _ reason: String) -> (index: Int, error: StoreError) {
            let offset = entries[index].commitLogOffset
            return (index, .corruptRecord(path: commitLog.location(of: offset), offset: offset, reason: reason))
        }
        var runStart = 0
        while runStart < entries.count {
            // Size 0 is a hole recovery left where a damaged record was.
            guard entries[runStart].messageSize > 0 else { return damage(runStart, "lost to damage") }
            var runEnd = runStart + 1
            var length = Int(entries[runStart].messageSize)
            while runEnd < entries.count, entries[runEnd].messageSize > 0,
                entries[runEnd].commitLogOffset == entries[runStart].commitLogOffset + Int64(length)
            {
                length += Int(entries[runEnd].messageSize)
                runEnd += 1
            }
            let run: ByteBuffer
            do {
                run = try commitLog.read(offset: entries[runStart].commitLogOffset, size: length)
            } catch {
                return (runStart, Self.readError(error, at: entries[runStart].commitLogOffset, in: commitLog))
            }
            var intact = 0
            var found: (index: Int, error: StoreError)?
            for index in runStart..<runEnd {
                let size = Int(entries[index].messageSize)
                if let problem = RecordScanner.problem(
                    in: run.getSlice(at: run.readerIndex + intact, length: size)!, checkingBodyCRC: false)
                {
                    found = damage(index, problem)
                    break
                }
                intact += size
            }
            // The records before a damaged one are served.
            var verified = run.getSlice(at: run.readerIndex, length: intact)!
            result.messages.writeBuffer(&verified)
            result.messageCount += (found?.index ?? runEnd) - runStart
            if let found { return found }
            runStart = runEnd
        }
        return nil
    }

    static func readError(_ error: any Error, at offset: Int64, in commitLog: any CommitLogStorage) -> StoreError {
        if let error = error as? StoreError { return error }
        return .corruptRecord(path: commitLog.location(of: offset), offset: offset, reason: "unreadable: \(error)")
    }

    /// The stored record at a CommitLog offset, decoded; nil when no record is stored there.
    /// Throws (after a log line) when it is damaged or unreadable.
    public func lookMessage(atCommitLogOffset offset: Int64) throws(StoreError) -> MessageExt? {
        guard var record = try verifiedRecord(atCommitLogOffset: offset) else { return nil }
        do {
            return try StoredMessageCodec.decode(from: &record)
        } catch {
            let damage = StoreError.corruptRecord(
                path: commitLogLocation(of: offset), offset: offset, reason: "\(error)")
            reportDamage(damage, queue: nil)
            throw damage
        }
    }

    /// The stored record at a CommitLog offset, verified against its checksums. Offsets and
    /// sizes are checked before any arithmetic, so a hostile offset cannot trap.
    public func readRecord(atCommitLogOffset offset: Int64) throws(StoreError) -> ByteBuffer {
        try state.withLock { state throws(StoreError) -> ByteBuffer in
            let commitLog = state.commitLog
            guard offset >= commitLog.minOffset, offset < commitLog.maxOffset,
                commitLog.maxOffset - offset >= Int64(StoredMessageCodec.fixedLength)
            else { throw .outOfRange(offset: offset) }
            func read(_ size: Int) throws(StoreError) -> ByteBuffer {
                do {
                    return try commitLog.read(offset: offset, size: size)
                } catch {
                    throw Self.readError(error, at: offset, in: commitLog)
                }
            }
            let head = try read(4)
            let size = Int(head.getInteger(at: head.readerIndex, as: Int32.self) ?? 0)
            guard size >= StoredMessageCodec.fixedLength, Int64(size) <= commitLog.maxOffset - offset else {
                throw .corruptRecord(path: commitLog.location(of: offset), offset: offset, reason: "size \(size)")
            }
            let record = try read(size)
            if let problem = RecordScanner.problem(in: record, checkingBodyCRC: false) {
                throw .corruptRecord(path: commitLog.location(of: offset), offset: offset, reason: problem)
            }
            return record
        }
    }

    func commitLogLocation(of offset: Int64) -> String { state.withLock { $0.commitLog.location(of: offset) } }

    /// The ConsumeQueue entry at a queue offset; nil past the queue's ends. Throws when the
    /// ConsumeQueue file cannot be read.
    public func consumeQueueEntry(_ topic: String, _ queueId: Int32, at queueOffset: Int64) throws -> ConsumeQueueEntry?
    {
        try state.withLock { try $0.consumeQueues[TopicQueueKey(topic, queueId)]?.entry(at: queueOffset) }
    }

    /// Store timestamp of the message at a queue offset; nil when there is none.
    public func storeTime(_ topic: String, _ queueId: Int32, at queueOffset: Int64) throws -> Int64? {
        guard let entry = try consumeQueueEntry(topic, queueId, at: queueOffset),
            let record = try verifiedRecord(atCommitLogOffset: entry.commitLogOffset)
        else { return nil }
        return record.getInteger(at: record.readerIndex + StoredMessageCodec.storeTimestampPosition, as: Int64.self)
    }

    /// First queue offset whose store time is at or after `timestamp` (binary search).
    public func offsetInQueue(byTime timestamp: Int64, _ topic: String, _ queueId: Int32) throws -> Int64 {
        var low = minOffsetInQueue(topic, queueId)
        var high = maxOffsetInQueue(topic, queueId)
        while low < high {
            let middle = low + (high - low) / 2
            // A hole (an entry lost to damage) or a retention race: look right of it.
            guard let time = try storeTime(topic, queueId, at: middle) else {
                low = middle + 1
                continue
            }
            if time < timestamp { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// `readRecord`, with an absent record as nil and damage reported (once per offset) before
    /// it is thrown.
    func verifiedRecord(atCommitLogOffset offset: Int64) throws(StoreError) -> ByteBuffer? {
        do {
            return try readRecord(atCommitLogOffset: offset)
        } catch {
            if case .outOfRange = error { return nil }
            reportDamage(error, queue: nil)
            throw error
        }
    }

    public var queueKeys: [TopicQueueKey] { state.withLock { Array($0.consumeQueues.keys) } }

    /// Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key` (only the latter when
    /// `uniqueKeyOnly`), stored within [begin, end], newest first (QUERY_MESSAGE).
    public func queryMessages(
        topic: String, key: String, maxCount: Int, beginMillis: Int64, endMillis: Int64, uniqueKeyOnly: Bool
    ) throws(StoreError) -> (messages: ByteBuffer, count: Int, lastUpdateTimestamp: Int64, lastUpdatePhyOffset: Int64) {
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
            // Entries of deleted segments are absent, not damaged.
            guard var record = try verifiedRecord(atCommitLogOffset: offset) else { continue }
            var copy = record
            let message: MessageExt
            do {
                message = try StoredMessageCodec.decode(from: &copy, readBody: false)
            } catch {
                let damage = StoreError.corruptRecord(
                    path: commitLogLocation(of: offset), offset: offset, reason: "\(error)")
                reportDamage(damage, queue: nil)
                throw damage
            }
            // Hash collisions and stale entries: keep only exact matches.
            guard message.topic == topic, message.uniqueKey == key || (!uniqueKeyOnly && message.keys.contains(key))
            else { continue }
            messages.writeBuffer(&record)
            count += 1
        }
        return (messages, count, lastUpdate.timestamp, lastUpdate.phyOffset)
    }
}
