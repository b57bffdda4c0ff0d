import Common
import Remoting

/// NameServer settings; keys as in RocketMQ's `NamesrvConfig` and `NettyServerConfig`.
public struct NamesrvConfig: Sendable {
    public var rocketmqHome: String
    public var kvConfigPath: String
    public var orderMessageEnable: Bool
    public var listenPort: Int
    public var bindAddress: String
    /// How often expired brokers are swept (ms).
    public var scanNotActiveBrokerInterval: Int
    /// A broker not re-registered within this time is removed (ms); RocketMQ's fixed 120 s.
    public var brokerChannelExpiredTime: Int
    /// Frame size, in-flight requests, unfinished-frame budget, write-buffer watermarks.
    public var limits: RemotingLimits
    public var unknownKeys: [String] = []

    public init(properties: [String: String] = [:]) throws(ConfigError) {
        var reader = ConfigReader(properties)
        rocketmqHome = Directories.expandHome(reader.string("rocketmqHome", default: "~"))
        kvConfigPath = Directories.expandHome(reader.string("kvConfigPath", default: "~/namesrv/kvConfig.json"))
        orderMessageEnable = try reader.bool("orderMessageEnable", default: false)
        listenPort = try reader.int("listenPort", default: 9876, range: 0...65535)
        bindAddress = reader.string("bindAddress", default: "0.0.0.0")
        scanNotActiveBrokerInterval = try reader.int(
            "scanNotActiveBrokerInterval", default: 10_000, range: 10...3_600_000)
        brokerChannelExpiredTime = try reader.int("brokerChannelExpiredTime", default: 120_000, range: 100...86_400_000)
        limits = try RemotingLimits(&reader)
        unknownKeys = reader.unknownKeys
    }

    /// What `mqnamesrv -p` prints.
    public var effectiveProperties: [String: String] {
        [
            "rocketmqHome": rocketmqHome, "kvConfigPath": kvConfigPath,
            "orderMessageEnable": String(orderMessageEnable),
            "listenPort": String(listenPort), "bindAddress": bindAddress,
            "scanNotActiveBrokerInterval": String(scanNotActiveBrokerInterval),
            "brokerChannelExpiredTime": String(brokerChannelExpiredTime),
        ].merging(limits.properties) { own, _ in own }
    }
}
