import Common
import Testing

@testable import Broker

struct BrokerConfigTests {
    @Test func propertiesFileFollowsJavaRules() {
        let text = """
            # comment
            ! also a comment
            brokerName = broker-a
            listenPort:10911
            namesrvAddr 127.0.0.1:9876;127.0.0.1:9877
            messageDelayLevel=1s 5s \\
                10s
            storePathRootDir=/data/store\\\\x
            """
        let values = PropertiesFile.parse(text)
        #expect(values["brokerName"] == "broker-a" && values["listenPort"] == "10911")
        #expect(values["namesrvAddr"] == "127.0.0.1:9876;127.0.0.1:9877")
        #expect(values["messageDelayLevel"] == "1s 5s 10s")
        #expect(values["storePathRootDir"] == "/data/store\\x")
    }

    @Test func defaultsMatchRocketMQ() throws {
        let config = try BrokerConfig(properties: ["brokerName": "b"])
        #expect(config.listenPort == 10911 && config.brokerClusterName == "DefaultCluster" && config.brokerId == 0)
        #expect(config.flushDiskType == .asyncFlush && config.brokerRole == .asyncMaster)
        #expect(config.mappedFileSizeCommitLog == 1 << 30 && config.maxMessageSize == 4 << 20)
        #expect(config.delayLevelMillis.count == 18 && config.delayLevelMillis[16] == 3_600_000)
        #expect(config.haServerAddr == "127.0.0.1:10912")
    }

    @Test(arguments: [
        ["flushDiskType": "SOMETIMES"], ["listenPort": "99999"], ["autoCreateTopicEnable": "yes"],
        ["messageDelayLevel": "1x"], ["brokerRole": "SLAVE"], ["mappedFileSizeCommitLog": "100000"],
        ["brokerName": "bad name"],
    ])
    func invalidValuesAreRefusedWithTheirKey(properties: [String: String]) {
        #expect(throws: ConfigError.self) { try BrokerConfig(properties: properties) }
    }

    @Test func commandLineNameServerWinsAndUnknownKeysAreReported() throws {
        let config = try BrokerConfig(
            properties: ["brokerName": "b", "namesrvAddr": "1.1.1.1:1", "fancyKey": "1"],
            namesrvOverride: "127.0.0.1:9876")
        #expect(config.namesrvAddr == ["127.0.0.1:9876"])
        #expect(config.unknownKeys == ["fancyKey"])
    }

    @Test func queueLocksExpireAndBelongToOneClient() {
        var locks = RebalanceLockManager(lockMaxLiveMillis: 60_000)
        let queue = MessageQueueKey(topic: "T", brokerName: "b", queueId: 0)
        #expect(locks.tryLockBatch(group: "G", queues: [queue], clientId: "c1", now: 0) == [queue])
        #expect(locks.tryLockBatch(group: "G", queues: [queue], clientId: "c2", now: 30_000).isEmpty)
        #expect(locks.tryLockBatch(group: "G", queues: [queue], clientId: "c2", now: 60_001) == [queue])
        locks.unlockBatch(group: "G", queues: [queue], clientId: "c1")
        #expect(locks.owner(group: "G", queue: queue, now: 60_002) == "c2")
        locks.unlockBatch(group: "G", queues: [queue], clientId: "c2")
        #expect(locks.owner(group: "G", queue: queue, now: 60_002) == nil)
    }
}
