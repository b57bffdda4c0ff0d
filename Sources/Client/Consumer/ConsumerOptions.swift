import Remoting

#if canImport(Glibc)
    import Glibc
#endif

/// Where a consumer group with no stored offset starts on a queue (`ConsumeFromWhere`).
public enum ConsumeFromWhere: Sendable, Equatable {
    /// The queue's end: only messages sent from now on.
    case lastOffset
    /// The queue's beginning.
    case firstOffset
    /// The first message stored at or after this time (milliseconds since the epoch).
    case timestamp(Int64)

    var wireName: String {
        switch self {
        case .lastOffset: "CONSUME_FROM_LAST_OFFSET"
        case .firstOffset: "CONSUME_FROM_FIRST_OFFSET"
        case .timestamp: "CONSUME_FROM_TIMESTAMP"
        }
    }
}

/// Consumer settings, with RocketMQ's names and defaults.
public struct ConsumerOptions: Sendable {
    /// Clustering shares the queues (and the offsets, kept on the broker) among the group;
    /// broadcasting gives every consumer every message (offsets kept in a local file).
    public var messageModel: MessageModel = .clustering
    public var consumeFromWhere: ConsumeFromWhere = .lastOffset
    /// Messages asked for per pull.
    public var pullBatchSize = 32
    /// Messages handed to the listener per call.
    public var consumeMessageBatchMaxSize = 1
    /// Flow control: a queue with this many messages pulled but not consumed is not pulled.
    public var pullThresholdForQueue = 1000
    /// Listener calls running at once (concurrent listeners; `consumeThreadMax`).
    public var consumeConcurrency = 20
    /// Failed deliveries before a message goes to the dead-letter queue.
    public var maxReconsumeTimes = 16
    /// Orderly: pause before consuming a failed batch again.
    public var suspendCurrentQueueTimeMillis = 1000
    /// Pause after a failed pull.
    public var pullTimeDelayMillisWhenException = 1000
    /// How long the broker holds a pull with no new message (long polling).
    public var brokerSuspendMaxTimeMillis = 15_000
    public var rebalanceIntervalMillis = 20_000
    public var persistConsumerOffsetIntervalMillis = 5000
    /// How often routes are re-read (RocketMQ's 30 s; our examples use ~1 s for fast failover).
    public var pollNameServerIntervalMillis = 30_000
    public var heartbeatBrokerIntervalMillis = 30_000
    /// Orderly, clustering: queue locks are renewed this often and considered lost after 30 s.
    public var lockRenewIntervalMillis = 20_000
    /// Broadcasting offsets: `<offsetStoreDir>/<clientId>/<group>/offsets.json`.
    public var offsetStoreDir = "~/.rocketmq_offsets"
    public var instanceName = String(getpid())
    /// How requests encode their headers (see `ProducerOptions.serializeType`).
    public var serializeType = SerializeType.json

    public init() {}
}
