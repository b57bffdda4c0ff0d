import Common
import Logging
import Remoting
import Synchronization

/// The broker's topics (`TopicConfigManager`), persisted in `config/topics.json`.
public final class TopicConfigManager: Sendable {
    struct State {
        var table: [String: TopicConfig] = [:]
        var dataVersion = DataVersion(timestamp: currentTimeMillis(), counter: 0)
    }
    let state = Mutex(State())
    let file: ConfigFile
    let config: BrokerConfig

    init(config: BrokerConfig, logger: Logger) throws {
        self.config = config
        file = ConfigFile(path: config.configDirectory + "/topics.json", logger: logger)
        var initial = State()
        for system in Self.systemTopics(config) { initial.table[system.topicName] = system }
        if let json = try file.load() {
            for (name, value) in json["topicConfigTable"]?.object ?? [:] {
                if var topic = TopicConfig(json: value) {
                    topic.topicName = name
                    initial.table[name] = topic
                }
            }
            if let version = json["dataVersion"] { initial.dataVersion = DataVersion(json: version) }
        }
        if !config.autoCreateTopicEnable { initial.table[SystemTopics.autoCreateTopicKey] = nil }
        state.withLock { $0 = initial }
    }

    static func systemTopics(_ config: BrokerConfig) -> [TopicConfig] {
        var topics = [
            TopicConfig(topicName: SystemTopics.selfTest, readQueueNums: 1, writeQueueNums: 1),
            TopicConfig(topicName: config.brokerClusterName, readQueueNums: 16, writeQueueNums: 16, perm: 4 | 2 | 1),
            TopicConfig(topicName: config.brokerName, readQueueNums: 1, writeQueueNums: 1, perm: 4 | 2 | 1),
            TopicConfig(topicName: SystemTopics.offsetMovedEvent, readQueueNums: 1, writeQueueNums: 1),
            TopicConfig(
                topicName: SystemTopics.schedule, readQueueNums: Int32(config.delayLevelMillis.count),
                writeQueueNums: Int32(config.delayLevelMillis.count)),
            TopicConfig(topicName: config.brokerClusterName + "_REPLY_TOPIC", readQueueNums: 1, writeQueueNums: 1),
        ]
        if config.autoCreateTopicEnable {
            topics.append(
                TopicConfig(
                    topicName: SystemTopics.autoCreateTopicKey, readQueueNums: config.defaultTopicQueueNums,
                    writeQueueNums: config.defaultTopicQueueNums,
                    perm: Permission.inherit | Permission.read | Permission.write))
        }
        return topics
    }

    public func select(_ topic: String) -> TopicConfig? { state.withLock { $0.table[topic] } }

    public var all: [String: TopicConfig] { state.withLock { $0.table } }

    public var registerBody: RegisterBrokerBody {
        state.withLock { RegisterBrokerBody(dataVersion: $0.dataVersion, topicConfigTable: $0.table) }
    }

    /// Creates or replaces a topic (UPDATE_AND_CREATE_TOPIC).
    public func update(_ topic: TopicConfig) {
        mutate { $0.table[topic.topicName] = topic }
    }

    /// A DLedger follower takes the master's topics as they are (SlaveSynchronize).
    public func mirror(_ table: [String: TopicConfig]) {
        mutate { $0.table = table }
    }

    public func delete(_ topic: String) -> Bool {
        var existed = false
        mutate { existed = $0.table.removeValue(forKey: topic) != nil }
        return existed
    }

    /// Auto-creation on send: the topic inherits from `defaultTopic` (TBW102) when that one has
    /// the INHERIT bit; queues = min(client's default, template's write queues). Returns nil when
    /// the topic cannot be created.
    public func createTopicInSendMessageMethod(
        _ topic: String, defaultTopic: String, clientDefaultTopicQueueNums: Int32, topicSysFlag: Int32
    ) -> (TopicConfig, created: Bool)? {
        var result: (TopicConfig, Bool)?
        mutate { state in
            if let existing = state.table[topic] {
                result = (existing, false)
                return
            }
            guard let template = state.table[defaultTopic], Permission.isInherited(template.perm),
                defaultTopic != SystemTopics.autoCreateTopicKey || config.autoCreateTopicEnable
            else { return }
            let queues = max(1, min(clientDefaultTopicQueueNums, template.writeQueueNums))
            let created = TopicConfig(
                topicName: topic, readQueueNums: queues, writeQueueNums: queues,
                perm: template.perm & ~Permission.inherit,
                topicFilterType: template.topicFilterType, topicSysFlag: topicSysFlag)
            state.table[topic] = created
            result = (created, true)
        }
        return result
    }

    /// Retry and dead-letter topics: created on first use with the given queues and perm.
    public func createTopicIfAbsent(_ topic: String, queueNums: Int32, perm: Int32) -> (TopicConfig, created: Bool) {
        var result: (TopicConfig, Bool)!
        mutate { state in
            if let existing = state.table[topic] {
                result = (existing, false)
            } else {
                let created = TopicConfig(
                    topicName: topic, readQueueNums: queueNums, writeQueueNums: queueNums, perm: perm)
                state.table[topic] = created
                result = (created, true)
            }
        }
        return result
    }

    /// Applies a change; when it changed the table, bumps the data version and persists.
    private func mutate(_ change: (inout State) -> Void) {
        let snapshot: JSONValue? = state.withLock { state in
            let before = state.table
            change(&state)
            guard before != state.table else { return nil }
            state.dataVersion = DataVersion(timestamp: currentTimeMillis(), counter: state.dataVersion.counter + 1)
            return .object([
                "dataVersion": state.dataVersion.json, "topicConfigTable": .object(state.table.mapValues(\.json)),
            ])
        }
        if let snapshot { file.save(snapshot) }
    }
}
