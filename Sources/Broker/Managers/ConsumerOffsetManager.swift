import Common
import Logging
import Remoting
import Synchronization

/// Committed consumer offsets ("next offset to consume") per `topic@group` and queue,
/// persisted in `config/consumerOffset.json` every `flushConsumerOffsetInterval` and at shutdown.
public final class ConsumerOffsetManager: Sendable {
    struct State {
        var table: [String: [Int32: Int64]] = [:]
        var dirty = false
        /// A master/slave slave: offsets consumers committed here (their master was away) that
        /// the master has not been told yet. Mirroring keeps them until it has.
        var forMaster: [String: [Int32: Int64]] = [:]
    }
    let state: Mutex<State>
    let file: ConfigFile

    init(config: BrokerConfig, logger: Logger) throws {
        file = ConfigFile(path: config.configDirectory + "/consumerOffset.json", logger: logger)
        var initial = State()
        for (key, queues) in try file.load()?["offsetTable"]?.object ?? [:] {
            var offsets: [Int32: Int64] = [:]
            for (queue, offset) in queues.object ?? [:] {
                if let id = Int32(queue), let value = offset.int64 { offsets[id] = value }
            }
            initial.table[key] = offsets
        }
        state = Mutex(initial)
    }

    static func key(topic: String, group: String) -> String { "\(topic)@\(group)" }

    /// `keepForMaster`: committed on a slave, to be handed to the master when it is back.
    public func commit(group: String, topic: String, queueId: Int32, offset: Int64, keepForMaster: Bool = false) {
        state.withLock { state in
            let key = Self.key(topic: topic, group: group)
            state.table[key, default: [:]][queueId] = offset
            if keepForMaster { state.forMaster[key, default: [:]][queueId] = offset }
            state.dirty = true
        }
    }

    /// A slave's offsets the master has not been told yet: (group, topic, queueId, offset).
    func pendingForMaster() -> [(group: String, topic: String, queueId: Int32, offset: Int64)] {
        state.withLock { state in
            state.forMaster.flatMap { key, queues in
                let at = key.firstIndex(of: "@") ?? key.endIndex
                let topic = String(key[..<at])
                let group = at < key.endIndex ? String(key[key.index(after: at)...]) : ""
                return queues.map { (group, topic, $0.key, $0.value) }
            }
        }
    }

    /// The master took `offset`: forget it unless a newer commit arrived meanwhile.
    func handedToMaster(group: String, topic: String, queueId: Int32, offset: Int64) {
        state.withLock { state in
            let key = Self.key(topic: topic, group: group)
            guard state.forMaster[key]?[queueId] == offset else { return }
            state.forMaster[key]?[queueId] = nil
            if state.forMaster[key]?.isEmpty == true { state.forMaster[key] = nil }
        }
    }

    public func query(group: String, topic: String, queueId: Int32) -> Int64? {
        state.withLock { $0.table[Self.key(topic: topic, group: group)]?[queueId] }
    }

    /// Groups with committed offsets for `topic`.
    public func groups(consuming topic: String) -> [String] {
        state.withLock { state in
            state.table.keys.compactMap { key in
                guard let at = key.firstIndex(of: "@"), key[..<at] == topic else { return nil }
                return String(key[key.index(after: at)...])
            }
        }
    }

    /// Topics `group` has committed offsets for.
    public func topics(consumedBy group: String) -> [String] {
        state.withLock { state in
            state.table.keys.compactMap { key in
                guard let at = key.lastIndex(of: "@"), key[key.index(after: at)...] == group else { return nil }
                return String(key[..<at])
            }
        }
    }

    public func persistIfDirty() {
        let snapshot: JSONValue? = state.withLock { state in
            guard state.dirty else { return nil }
            state.dirty = false
            return Self.json(state.table)
        }
        if let snapshot { file.save(snapshot) }
    }

    /// GET_ALL_CONSUMER_OFFSET's body: `{"offsetTable": {"topic@group": {"0": 12, …}}}`.
    var json: JSONValue { Self.json(state.withLock { $0.table }) }

    static func json(_ table: [String: [Int32: Int64]]) -> JSONValue {
        .object([
            "offsetTable": .object(
                table.mapValues { queues in
                    .object(Dictionary(uniqueKeysWithValues: queues.map { (String($0.key), JSONValue.int($0.value)) }))
                })
        ])
    }

    /// A DLedger follower or a slave takes the master's offsets (SlaveSynchronize): after a
    /// failover the new master answers offset queries with what consumers had committed. Offsets
    /// committed here that the master has not taken yet stay.
    func mirror(_ json: JSONValue) {
        var table: [String: [Int32: Int64]] = [:]
        for (key, queues) in json["offsetTable"]?.object ?? [:] {
            for (queue, offset) in queues.object ?? [:] {
                if let id = Int32(queue), let value = offset.int64 { table[key, default: [:]][id] = value }
            }
        }
        state.withLock { state in
            for (key, queues) in state.forMaster {
                table[key, default: [:]].merge(queues) { _, own in own }
            }
            guard state.table != table else { return }
            state.table = table
            state.dirty = true
        }
    }
}
