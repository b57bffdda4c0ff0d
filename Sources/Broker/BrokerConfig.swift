import Common
import DLedgerStore
import Remoting

public enum BrokerRole: String, Sendable {
    case asyncMaster = "ASYNC_MASTER"
    case syncMaster = "SYNC_MASTER"
    case slave = "SLAVE"
}

/// Broker settings from `broker.conf`, with RocketMQ's keys and defaults, validated once.
public struct BrokerConfig: Sendable {
    public var brokerClusterName: String
    public var brokerName: String
    public var brokerId: Int64
    public var brokerIP1: String
    public var listenPort: Int
    public var haListenPort: Int
    public var bindAddress: String
    public var namesrvAddr: [String]
    public var rocketmqHome: String
    public var storePathRootDir: String
    public var storePathCommitLog: String
    public var mappedFileSizeCommitLog: Int
    public var mappedFileSizeConsumeQueue: Int
    public var flushDiskType: FlushDiskType
    public var flushIntervalCommitLog: Int
    public var flushIntervalConsumeQueue: Int
    public var flushConsumerOffsetInterval: Int
    public var brokerRole: BrokerRole
    public var brokerPermission: Int32
    public var autoCreateTopicEnable: Bool
    public var autoCreateSubscriptionGroup: Bool
    public var defaultTopicQueueNums: Int32
    public var messageDelayLevel: String
    public var delayLevelMillis: [Int64]
    public var maxMessageSize: Int
    public var registerNameServerPeriod: Int
    public var compressedRegister: Bool
    public var longPollingEnable: Bool
    public var shortPollingTimeMills: Int
    public var maxTransferCountOnMessageInMemory: Int
    public var maxTransferBytesOnMessageInMemory: Int
    /// Frame size, in-flight requests, unfinished-frame budget, write-buffer watermarks.
    public var limits: RemotingLimits
    /// How fast the scrubber verifies sealed CommitLog segments (bytes/s); 0 turns it off.
    public var commitLogScrubBytesPerSecond: Int
    public var channelExpiredTimeout: Int
    public var rebalanceLockMaxLiveTime: Int
    public var messageIndexEnable: Bool
    public var maxHashSlotNum: Int
    public var maxIndexNum: Int
    public var defaultQueryMaxNum: Int
    public var fileReservedTime: Int
    public var deleteWhen: Set<Int>
    public var diskMaxUsedSpaceRatio: Int
    public var diskSpaceWarningLevelRatio: Double
    public var diskSpaceCleanForciblyRatio: Double
    public var cleanResourceInterval: Int
    public var rejectTransactionMessage: Bool
    public var transactionTimeOut: Int
    public var transactionCheckMax: Int
    public var transactionCheckInterval: Int
    /// DLedger mode (`conf/dledger`): the CommitLog is a Raft-replicated DLedger log and the
    /// role comes from Raft, not from `brokerRole`/`brokerId`.
    public var enableDLegerCommitLog: Bool
    public var dLegerGroup: String
    public var dLegerPeers: DLedgerPeers?
    public var dLegerSelfId: String
    public var preferredLeaderId: String?
    public var storePathDLedgerCommitLog: String?
    /// Master/slave HA (`brokerRole` SYNC_MASTER, ASYNC_MASTER or SLAVE).
    public var haSendHeartbeatInterval: Int
    public var haHousekeepingInterval: Int
    public var haTransferBatchSize: Int
    /// The slave's fixed master HA address; nil: learned from the NameServer registration.
    public var haMasterAddress: String?
    public var haSlaveFallbehindMax: Int64
    public var syncFlushTimeout: Int
    public var slaveReadEnable: Bool
    public var accessMessageInMemoryMaxRatio: Int
    public var unknownKeys: [String] = []

    public static let defaultMessageDelayLevel = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

    public init(properties: [String: String], namesrvOverride: String? = nil, environmentNamesrv: String? = nil)
        throws(ConfigError)
    {
        var reader = ConfigReader(properties)
        brokerClusterName = reader.string("brokerClusterName", default: "DefaultCluster")
        brokerName = reader.string("brokerName", default: hostName())
        brokerId = Int64(try reader.int("brokerId", default: 0, range: 0...1024))
        brokerIP1 = reader.string("brokerIP1", default: "127.0.0.1")
        listenPort = try reader.int("listenPort", default: 10911, range: 1...65535)
        haListenPort = try reader.int("haListenPort", default: listenPort + 1, range: 1...65535)
        bindAddress = reader.string("bindAddress", default: "0.0.0.0")
        let configured = reader.string("namesrvAddr", default: environmentNamesrv ?? "")
        let namesrv = namesrvOverride ?? configured
        namesrvAddr = namesrv.split(separator: ";").map { String($0).trimmingCharacters() }.filter { !$0.isEmpty }
        rocketmqHome = Directories.expandHome(reader.string("rocketmqHome", default: "~"))
        // RocketMQ's defaults (`user.home`/store) apply to a missing or empty path alike.
        storePathRootDir = Directories.expandHome(reader.nonEmptyString("storePathRootDir", default: "~/store"))
        storePathCommitLog = Directories.expandHome(
            reader.nonEmptyString("storePathCommitLog", default: storePathRootDir + "/commitlog"))
        mappedFileSizeCommitLog = try reader.int(
            "mappedFileSizeCommitLog", default: 1024 * 1024 * 1024, range: 64 * 1024...(1 << 31) - 1)
        mappedFileSizeConsumeQueue = try reader.int(
            "mappedFileSizeConsumeQueue", default: 300_000 * 20, range: 20...(1 << 30))
        flushDiskType = FlushDiskType(
            rawValue: try reader.oneOf("flushDiskType", default: "ASYNC_FLUSH", allowed: ["ASYNC_FLUSH", "SYNC_FLUSH"]))!
        flushIntervalCommitLog = try reader.int("flushIntervalCommitLog", default: 500, range: 1...60_000)
        flushIntervalConsumeQueue = try reader.int("flushIntervalConsumeQueue", default: 1000, range: 1...60_000)
        flushConsumerOffsetInterval = try reader.int("flushConsumerOffsetInterval", default: 5000, range: 10...600_000)
        brokerRole = BrokerRole(
            rawValue: try reader.oneOf(
                "brokerRole", default: "ASYNC_MASTER", allowed: ["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"]))!
        brokerPermission = Int32(try reader.int("brokerPermission", default: 6, range: 0...15))
        autoCreateTopicEnable = try reader.bool("autoCreateTopicEnable", default: true)
        autoCreateSubscriptionGroup = try reader.bool("autoCreateSubscriptionGroup", default: true)
        defaultTopicQueueNums = Int32(try reader.int("defaultTopicQueueNums", default: 8, range: 1...1024))
        messageDelayLevel = reader.string("messageDelayLevel", default: Self.defaultMessageDelayLevel)
        delayLevelMillis = try Self.parseDelayLevels(messageDelayLevel)
        maxMessageSize = try reader.int("maxMessageSize", default: 4 * 1024 * 1024, range: 1024...(1 << 30))
        registerNameServerPeriod = try reader.int("registerNameServerPeriod", default: 30_000, range: 1000...60_000)
        compressedRegister = try reader.bool("compressedRegister", default: false)
        longPollingEnable = try reader.bool("longPollingEnable", default: true)
        shortPollingTimeMills = try reader.int("shortPollingTimeMills", default: 1000, range: 0...60_000)
        maxTransferCountOnMessageInMemory = try reader.int(
            "maxTransferCountOnMessageInMemory", default: 32, range: 1...10_000)
        maxTransferBytesOnMessageInMemory = try reader.int(
            "maxTransferBytesOnMessageInMemory", default: 256 * 1024, range: 1024...(1 << 30))
        limits = try RemotingLimits(&reader)
        commitLogScrubBytesPerSecond = try reader.int(
            "commitLogScrubBytesPerSecond", default: 4 * 1024 * 1024, range: 0...(1 << 34))
        channelExpiredTimeout = try reader.int("channelExpiredTimeout", default: 120_000, range: 1000...3_600_000)
        rebalanceLockMaxLiveTime = try reader.int("rebalanceLockMaxLiveTime", default: 60_000, range: 1000...3_600_000)
        messageIndexEnable = try reader.bool("messageIndexEnable", default: true)
        maxHashSlotNum = try reader.int("maxHashSlotNum", default: 5_000_000, range: 1...100_000_000)
        maxIndexNum = try reader.int("maxIndexNum", default: 20_000_000, range: 2...100_000_000)
        defaultQueryMaxNum = try reader.int("defaultQueryMaxNum", default: 32, range: 1...10_000)
        fileReservedTime = try reader.int("fileReservedTime", default: 72, range: 0...87_600)
        let hours = reader.string("deleteWhen", default: "04")
        deleteWhen = Set(
            try hours.split(separator: ";").map { text throws(ConfigError) -> Int in
                guard let hour = Int(String(text).trimmingCharacters()), (0...23).contains(hour) else {
                    throw ConfigError("deleteWhen=\(hours): hours 00-23 separated by ';'")
                }
                return hour
            })
        diskMaxUsedSpaceRatio = try reader.int("diskMaxUsedSpaceRatio", default: 75, range: 10...95)
        diskSpaceWarningLevelRatio = try Self.ratio(&reader, "diskSpaceWarningLevelRatio", default: 0.90)
        diskSpaceCleanForciblyRatio = try Self.ratio(&reader, "diskSpaceCleanForciblyRatio", default: 0.85)
        cleanResourceInterval = try reader.int("cleanResourceInterval", default: 10_000, range: 100...3_600_000)
        rejectTransactionMessage = try reader.bool("rejectTransactionMessage", default: false)
        transactionTimeOut = try reader.int("transactionTimeOut", default: 6000, range: 100...86_400_000)
        transactionCheckMax = try reader.int("transactionCheckMax", default: 15, range: 0...10_000)
        transactionCheckInterval = try reader.int("transactionCheckInterval", default: 60_000, range: 100...86_400_000)
        enableDLegerCommitLog = try reader.bool("enableDLegerCommitLog", default: false)
        dLegerGroup = reader.string("dLegerGroup", default: brokerName)
        let peersText = reader.string("dLegerPeers", default: "")
        dLegerSelfId = reader.string("dLegerSelfId", default: "")
        let preferred = reader.string("preferredLeaderId", default: "")
        preferredLeaderId = preferred.isEmpty ? nil : preferred
        let dledgerPath = reader.string("storePathDLedgerCommitLog", default: "")
        storePathDLedgerCommitLog = dledgerPath.isEmpty ? nil : Directories.expandHome(dledgerPath)
        if enableDLegerCommitLog {
            do {
                let peers = try DLedgerPeers(parsing: peersText)
                _ = try peers.member(dLegerSelfId)
                if let preferredLeaderId, peers.peer(preferredLeaderId) == nil {
                    throw ConfigError("preferredLeaderId=\(preferredLeaderId) is not in dLegerPeers=\(peersText)")
                }
                dLegerPeers = peers
            } catch let error as DLedgerPeersError {
                throw ConfigError(
                    "DLedger mode (enableDLegerCommitLog=true): dLegerPeers=\(peersText), dLegerSelfId=\(dLegerSelfId): \(error)"
                )
            } catch let error as ConfigError {
                throw error
            } catch {
                throw ConfigError("DLedger mode: \(error)")
            }
            guard !dLegerGroup.isEmpty else { throw ConfigError("dLegerGroup must not be empty") }
        } else {
            dLegerPeers = nil
        }
        haSendHeartbeatInterval = try reader.int("haSendHeartbeatInterval", default: 5000, range: 100...600_000)
        haHousekeepingInterval = try reader.int("haHousekeepingInterval", default: 20_000, range: 1000...3_600_000)
        haTransferBatchSize = try reader.int("haTransferBatchSize", default: 32 * 1024, range: 1024...16 * 1024 * 1024)
        let haMaster = reader.string("haMasterAddress", default: "")
        if !haMaster.isEmpty, !Self.isHostAndPort(haMaster) {
            throw ConfigError("haMasterAddress=\(haMaster) is not host:port")
        }
        haMasterAddress = haMaster.isEmpty ? nil : haMaster
        haSlaveFallbehindMax = Int64(
            try reader.int("haSlaveFallbehindMax", default: 256 * 1024 * 1024, range: 0...(1 << 40)))
        syncFlushTimeout = try reader.int("syncFlushTimeout", default: 5000, range: 1...600_000)
        slaveReadEnable = try reader.bool("slaveReadEnable", default: false)
        accessMessageInMemoryMaxRatio = try reader.int("accessMessageInMemoryMaxRatio", default: 40, range: 0...100)
        unknownKeys = reader.unknownKeys

        // A record must fit a segment with room for the end-of-file filler.
        let largestRecord = maxMessageSize + StoredMessageCodec.fixedLength + 127 + Int(Int16.max)
        guard largestRecord + 8 <= mappedFileSizeCommitLog else {
            throw ConfigError(
                "mappedFileSizeCommitLog=\(mappedFileSizeCommitLog) is too small for maxMessageSize=\(maxMessageSize) (needs at least \(largestRecord + 8))"
            )
        }
        guard mappedFileSizeConsumeQueue % 20 == 0 else {
            throw ConfigError("mappedFileSizeConsumeQueue=\(mappedFileSizeConsumeQueue) must be a multiple of 20")
        }
        guard !brokerName.isEmpty, SystemTopics.validate(brokerName) == nil else {
            throw ConfigError("brokerName=\(brokerName) must be non-empty and use only [%|a-zA-Z0-9_-]")
        }
        if brokerRole == .slave && brokerId == 0 && !enableDLegerCommitLog {
            throw ConfigError("brokerRole=SLAVE needs brokerId > 0")
        }
    }

    static func isHostAndPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex,
            let port = Int(text[text.index(after: colon)...])
        else { return false }
        return (1...65535).contains(port)
    }

    static func ratio(_ reader: inout ConfigReader, _ key: String, default value: Double) throws(ConfigError) -> Double
    {
        let text = reader.string(key, default: String(value))
        guard let parsed = Double(text), parsed > 0, parsed <= 1 else {
            throw ConfigError("\(key)=\(text) is not a ratio in (0, 1]")
        }
        return parsed
    }

    /// `messageDelayLevel`: durations with unit s, m, h or d separated by spaces.
    public static func parseDelayLevels(_ text: String) throws(ConfigError) -> [Int64] {
        var levels: [Int64] = []
        for token in text.split(separator: " ") {
            guard let unit = token.last, let value = Int64(token.dropLast()), value >= 0 else {
                throw ConfigError("messageDelayLevel: bad level \(token)")
            }
            let factor: Int64
            switch unit {
            case "s": factor = 1000
            case "m": factor = 60_000
            case "h": factor = 3_600_000
            case "d": factor = 86_400_000
            default: throw ConfigError("messageDelayLevel: unknown unit in \(token) (use s, m, h, d)")
            }
            levels.append(value * factor)
        }
        guard !levels.isEmpty else { throw ConfigError("messageDelayLevel is empty") }
        return levels
    }

    public var brokerAddr: String { "\(brokerIP1):\(listenPort)" }
    public var haServerAddr: String { "\(brokerIP1):\(haListenPort)" }
    /// Master/slave HA applies: fixed roles (not DLedger mode).
    public var isClassicMaster: Bool { !enableDLegerCommitLog && brokerRole != .slave }
    public var isClassicSlave: Bool { !enableDLegerCommitLog && brokerRole == .slave }
    public var storeHost: HostAddress { HostAddress(brokerAddr) }

    public var effectiveProperties: [String: String] {
        [
            "brokerClusterName": brokerClusterName, "brokerName": brokerName, "brokerId": String(brokerId),
            "brokerIP1": brokerIP1, "listenPort": String(listenPort), "haListenPort": String(haListenPort),
            "bindAddress": bindAddress, "namesrvAddr": namesrvAddr.joined(separator: ";"), "rocketmqHome": rocketmqHome,
            "storePathRootDir": storePathRootDir, "storePathCommitLog": storePathCommitLog,
            "mappedFileSizeCommitLog": String(mappedFileSizeCommitLog),
            "mappedFileSizeConsumeQueue": String(mappedFileSizeConsumeQueue), "flushDiskType": flushDiskType.rawValue,
            "flushIntervalCommitLog": String(flushIntervalCommitLog),
            "flushIntervalConsumeQueue": String(flushIntervalConsumeQueue),
            "flushConsumerOffsetInterval": String(flushConsumerOffsetInterval), "brokerRole": brokerRole.rawValue,
            "brokerPermission": String(brokerPermission), "autoCreateTopicEnable": String(autoCreateTopicEnable),
            "autoCreateSubscriptionGroup": String(autoCreateSubscriptionGroup),
            "defaultTopicQueueNums": String(defaultTopicQueueNums), "messageDelayLevel": messageDelayLevel,
            "maxMessageSize": String(maxMessageSize), "registerNameServerPeriod": String(registerNameServerPeriod),
            "compressedRegister": String(compressedRegister), "longPollingEnable": String(longPollingEnable),
            "shortPollingTimeMills": String(shortPollingTimeMills),
            "maxTransferCountOnMessageInMemory": String(maxTransferCountOnMessageInMemory),
            "maxTransferBytesOnMessageInMemory": String(maxTransferBytesOnMessageInMemory),
            "commitLogScrubBytesPerSecond": String(commitLogScrubBytesPerSecond),
            "channelExpiredTimeout": String(channelExpiredTimeout),
            "rebalanceLockMaxLiveTime": String(rebalanceLockMaxLiveTime),
            "messageIndexEnable": String(messageIndexEnable), "maxHashSlotNum": String(maxHashSlotNum),
            "maxIndexNum": String(maxIndexNum), "defaultQueryMaxNum": String(defaultQueryMaxNum),
            "fileReservedTime": String(fileReservedTime),
            "deleteWhen": deleteWhen.sorted().map { $0 < 10 ? "0\($0)" : "\($0)" }.joined(separator: ";"),
            "diskMaxUsedSpaceRatio": String(diskMaxUsedSpaceRatio),
            "diskSpaceWarningLevelRatio": String(diskSpaceWarningLevelRatio),
            "diskSpaceCleanForciblyRatio": String(diskSpaceCleanForciblyRatio),
            "cleanResourceInterval": String(cleanResourceInterval),
            "rejectTransactionMessage": String(rejectTransactionMessage),
            "transactionTimeOut": String(transactionTimeOut), "transactionCheckMax": String(transactionCheckMax),
            "transactionCheckInterval": String(transactionCheckInterval),
            "haSendHeartbeatInterval": String(haSendHeartbeatInterval),
            "haHousekeepingInterval": String(haHousekeepingInterval),
            "haTransferBatchSize": String(haTransferBatchSize), "haMasterAddress": haMasterAddress ?? "",
            "haSlaveFallbehindMax": String(haSlaveFallbehindMax), "syncFlushTimeout": String(syncFlushTimeout),
            "slaveReadEnable": String(slaveReadEnable),
            "accessMessageInMemoryMaxRatio": String(accessMessageInMemoryMaxRatio),
        ].merging(limits.properties) { own, _ in own }.merging(dLedgerProperties) { own, _ in own }
    }

    public var storeConfig: MessageStoreConfig {
        var config = MessageStoreConfig(
            storePathRootDir: storePathRootDir, storePathCommitLog: storePathCommitLog,
            mappedFileSizeCommitLog: mappedFileSizeCommitLog,
            consumeQueueEntriesPerFile: mappedFileSizeConsumeQueue / 20,
            flushDiskType: flushDiskType, flushIntervalCommitLog: flushIntervalCommitLog,
            flushIntervalConsumeQueue: flushIntervalConsumeQueue, delayLevelMillis: delayLevelMillis,
            maxTransferCountOnMessageInMemory: maxTransferCountOnMessageInMemory,
            maxTransferBytesOnMessageInMemory: maxTransferBytesOnMessageInMemory, storeHost: storeHost)
        config.messageIndexEnable = messageIndexEnable
        config.maxHashSlotNum = maxHashSlotNum
        config.maxIndexNum = maxIndexNum
        config.commitLogScrubBytesPerSecond = commitLogScrubBytesPerSecond
        config.syncFlushTimeoutMillis = syncFlushTimeout
        // Only a master/slave broker with slaveReadEnable suggests where to pull from.
        if slaveReadEnable, !enableDLegerCommitLog {
            config.accessMessageInMemoryMaxBytes = PhysicalMemory.bytes / 100 * Int64(accessMessageInMemoryMaxRatio)
        }
        return config
    }

    var configDirectory: String { storePathRootDir + "/config" }

    var dLedgerProperties: [String: String] {
        let peers: String =
            dLegerPeers.map { list in list.peers.map { "\($0.id)-\($0.address)" }.joined(separator: ";") } ?? ""
        return [
            "enableDLegerCommitLog": String(enableDLegerCommitLog), "dLegerGroup": dLegerGroup, "dLegerPeers": peers,
            "dLegerSelfId": dLegerSelfId, "preferredLeaderId": preferredLeaderId ?? "",
            "storePathDLedgerCommitLog": storePathDLedgerCommitLog ?? "",
        ]
    }

    /// The DLedger member this broker runs in DLedger mode (nil otherwise).
    public var dLedgerConfig: DLedgerConfig? {
        guard enableDLegerCommitLog, let dLegerPeers else { return nil }
        var config = DLedgerConfig(
            group: dLegerGroup, selfId: dLegerSelfId, peers: dLegerPeers, storeBaseDir: storePathRootDir)
        config.dataStorePath = storePathDLedgerCommitLog
        config.dataFileSize = mappedFileSizeCommitLog
        config.syncFlush = flushDiskType == .syncFlush
        config.flushIntervalMillis = flushIntervalCommitLog
        config.preferredLeaderId = preferredLeaderId
        return config
    }

    /// In DLedger mode the brokerId a follower registers with: the member number plus one.
    public var dLegerSlaveBrokerId: Int64 { Int64(dLegerPeers?.peer(dLegerSelfId)?.number ?? 0) + 1 }
}
