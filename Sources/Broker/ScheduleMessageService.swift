import Common
import Logging
import Remoting
import Synchronization

/// Delay levels (`ScheduleMessageService`): messages parked in `SCHEDULE_TOPIC_XXXX` queue
/// level-1 are re-put to their real topic when their delivery time (the ConsumeQueue's tag slot)
/// has come. Progress per level is persisted in `config/delayOffset.json`.
final class ScheduleMessageService: Sendable {
    let store: MessageStore
    let levels: Int
    let offsets: Mutex<[Int: Int64]>
    let file: ConfigFile
    let logger: Logger

    init(store: MessageStore, config: BrokerConfig, logger: Logger) throws {
        self.store = store
        self.levels = config.delayLevelMillis.count
        self.logger = logger
        file = ConfigFile(path: config.configDirectory + "/delayOffset.json", logger: logger)
        var initial: [Int: Int64] = [:]
        for (level, offset) in try file.load()?["offsetTable"]?.object ?? [:] {
            if let level = Int(level), let offset = offset.int64 { initial[level] = offset }
        }
        offsets = Mutex(initial)
    }

    /// Delivers every due message; returns how many were delivered.
    @discardableResult
    func deliverDueMessages(now: Int64) async -> Int {
        var delivered = 0
        for level in 1...levels {
            let queueId = Int32(level - 1)
            var offset = max(
                offsets.withLock { $0[level] ?? 0 }, store.minOffsetInQueue(SystemTopics.schedule, queueId))
            let start = offset
            do {
                while let entry = try store.consumeQueueEntry(SystemTopics.schedule, queueId, at: offset),
                    entry.tagsCode <= now
                {
                    switch Self.readParked(at: entry.commitLogOffset, in: store) {
                    case .message(let parked):
                        let result = await store.putMessages([Self.restore(parked, now: now)])
                        guard result.status.isStored else {
                            logger.error(
                                "delivering delayed message at \(entry.commitLogOffset) failed: \(result.status); will retry"
                            )
                            break
                        }
                        delivered += 1
                    case .lost(let why):
                        logger.error("delayed message at CommitLog offset \(entry.commitLogOffset) skipped: \(why)")
                    }
                    offset += 1
                }
            } catch {
                logger.error("delay level \(level): reading its queue at \(offset) failed: \(error); will retry")
            }
            if offset != start {
                let advanced = offset
                offsets.withLock { $0[level] = advanced }
            }
        }
        return delivered
    }

    enum ParkedRead {
        case message(MessageExt)
        /// Gone for good (damaged, or deleted by retention): waiting would block the level.
        case lost(String)
    }

    static func readParked(at offset: Int64, in store: MessageStore) -> ParkedRead {
        do {
            guard let parked = try store.lookMessage(atCommitLogOffset: offset) else {
                return .lost("no longer in the CommitLog")
            }
            return .message(parked)
        } catch {
            return .lost("\(error)")
        }
    }

    /// The parked copy, back in its real topic and queue.
    static func restore(_ parked: MessageExt, now: Int64) -> MessageExt {
        var message = parked
        message.topic = parked.properties[MessageConst.realTopic] ?? parked.topic
        message.queueId = Int32(parked.properties[MessageConst.realQueueId] ?? "") ?? 0
        message.properties[MessageConst.delayTimeLevel] = nil
        message.properties[MessageConst.wait] = "false"
        message.storeTimestamp = now
        return message
    }

    func persist() { file.save(json) }

    /// GET_ALL_DELAY_OFFSET's body (and delayOffset.json): `{"offsetTable": {"1": 12, …}}`.
    var json: JSONValue {
        let snapshot = offsets.withLock { $0 }
        return .object([
            "offsetTable": .object(
                Dictionary(uniqueKeysWithValues: snapshot.map { (String($0.key), JSONValue.int($0.value)) }))
        ])
    }

    /// A DLedger follower takes the master's delivery progress, so a new master does not deliver
    /// delayed messages a second time.
    func mirror(_ json: JSONValue) {
        var table: [Int: Int64] = [:]
        for (level, offset) in json["offsetTable"]?.object ?? [:] {
            if let level = Int(level), let offset = offset.int64 { table[level] = offset }
        }
        offsets.withLock { $0 = table }
    }
}
