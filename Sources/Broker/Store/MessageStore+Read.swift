import Common
import DequeModule
import Logging
import NIOCore
import NIOPosix
import Remoting
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
            let scanLimit = filtering ? max(16_000 / ConsumeQueueEntry.size, maxCount * 20) : wanted
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
                selectedBytes += Int(entry.messageSize)
            }
            readRecords(selected, from: state.commitLog, into: &result, queue: "\(topic)-\(queueId)")
            result.nextBeginOffset = offset + Int64(scanned)
            if result.messageCount > 0 { result.status = .found }
            return result
        }
    }

    /// Appends the records of `entries` to `result`; adjacent records (a queue written alone is
    /// one run) are read in one call, split where the CommitLog cannot serve a run whole.
    func readRecords(
        _ entries: [ConsumeQueueEntry], from commitLog: any CommitLogStorage, into result: inout GetMessageResult,
        queue: String
    ) {
        var runStart = 0
        while runStart < entries.count {
            var runEnd = runStart + 1
            var length = Int(entries[runStart].messageSize)
            while runEnd < entries.count,
                entries[runEnd].commitLogOffset == entries[runStart].commitLogOffset + Int64(length)
            {
                length += Int(entries[runEnd].messageSize)
                runEnd += 1
            }
            if runEnd - runStart > 1,
                var bytes = try? commitLog.read(offset: entries[runStart].commitLogOffset, size: length)
            {
                result.messages.writeBuffer(&bytes)
                result.messageCount += runEnd - runStart
            } else {
                for entry in entries[runStart..<runEnd] {
                    do {
                        var record = try commitLog.read(offset: entry.commitLogOffset, size: Int(entry.messageSize))
                        result.messages.writeBuffer(&record)
                        result.messageCount += 1
                    } catch {
                        logger.error("reading CommitLog at \(entry.commitLogOffset) for \(queue) failed: \(error)")
                        result.status = .messageWasRemoving
                    }
                }
            }
            runStart = runEnd
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
