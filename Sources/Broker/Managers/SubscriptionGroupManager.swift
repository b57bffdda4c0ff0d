import Common
import Logging
import Remoting
import Synchronization

/// A consumer group's broker-side settings (`SubscriptionGroupConfig`).
public struct SubscriptionGroupConfig: Sendable, Equatable {
    public var groupName: String
    public var consumeEnable = true
    public var consumeFromMinEnable = true
    public var consumeBroadcastEnable = true
    public var retryQueueNums: Int32 = 1
    public var retryMaxTimes: Int32 = 16
    public var brokerId: Int64 = 0
    public var whichBrokerWhenConsumeSlowly: Int64 = 1
    public var notifyConsumerIdsChangedEnable = true

    public init(groupName: String) { self.groupName = groupName }

    var json: JSONValue {
        .object([
            "groupName": .string(groupName), "consumeEnable": .bool(consumeEnable),
            "consumeFromMinEnable": .bool(consumeFromMinEnable),
            "consumeBroadcastEnable": .bool(consumeBroadcastEnable),
            "retryQueueNums": .int(retryQueueNums), "retryMaxTimes": .int(retryMaxTimes), "brokerId": .int(brokerId),
            "whichBrokerWhenConsumeSlowly": .int(whichBrokerWhenConsumeSlowly),
            "notifyConsumerIdsChangedEnable": .bool(notifyConsumerIdsChangedEnable),
        ])
    }

    init?(json: JSONValue) {
        guard let name = json["groupName"]?.text else { return nil }
        groupName = name
        consumeEnable = json["consumeEnable"]?.bool ?? true
        consumeFromMinEnable = json["consumeFromMinEnable"]?.bool ?? true
        consumeBroadcastEnable = json["consumeBroadcastEnable"]?.bool ?? true
        retryQueueNums = json["retryQueueNums"]?.int32 ?? 1
        retryMaxTimes = json["retryMaxTimes"]?.int32 ?? 16
        brokerId = json["brokerId"]?.int64 ?? 0
        whichBrokerWhenConsumeSlowly = json["whichBrokerWhenConsumeSlowly"]?.int64 ?? 1
        notifyConsumerIdsChangedEnable = json["notifyConsumerIdsChangedEnable"]?.bool ?? true
    }
}

/// Consumer groups known to the broker, persisted in `config/subscriptionGroup.json`.
public final class SubscriptionGroupManager: Sendable {
    let table: Mutex<[String: SubscriptionGroupConfig]>
    let file: ConfigFile
    let autoCreate: Bool

    init(config: BrokerConfig, logger: Logger) throws {
        file = ConfigFile(path: config.configDirectory + "/subscriptionGroup.json", logger: logger)
        autoCreate = config.autoCreateSubscriptionGroup
        var initial: [String: SubscriptionGroupConfig] = [:]
        for (name, value) in try file.load()?["subscriptionGroupTable"]?.object ?? [:] {
            if let group = SubscriptionGroupConfig(json: value) { initial[name] = group }
        }
        table = Mutex(initial)
    }

    /// Whether the group is known (without creating it).
    public func contains(_ group: String) -> Bool { table.withLock { $0[group] != nil } }

    /// The group's config, created with defaults when auto-creation is on; nil otherwise.
    public func findOrCreate(_ group: String) -> SubscriptionGroupConfig? {
        let (config, created) = table.withLock { table -> (SubscriptionGroupConfig?, Bool) in
            if let existing = table[group] { return (existing, false) }
            guard autoCreate else { return (nil, false) }
            let created = SubscriptionGroupConfig(groupName: group)
            table[group] = created
            return (created, true)
        }
        if created { persist() }
        return config
    }

    public func update(_ config: SubscriptionGroupConfig) {
        table.withLock { $0[config.groupName] = config }
        persist()
    }

    /// A DLedger follower takes the master's groups as they are (SlaveSynchronize).
    func mirror(_ json: JSONValue) {
        var mirrored: [String: SubscriptionGroupConfig] = [:]
        for (name, value) in json["subscriptionGroupTable"]?.object ?? [:] {
            if let group = SubscriptionGroupConfig(json: value) { mirrored[name] = group }
        }
        let changed = table.withLock { table in
            defer { table = mirrored }
            return table != mirrored
        }
        if changed { persist() }
    }

    var json: JSONValue {
        .object(["subscriptionGroupTable": .object(table.withLock { $0 }.mapValues(\.json))])
    }

    func persist() { file.save(json) }
}
