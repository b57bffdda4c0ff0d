import Common
import DLedgerStore
import DequeModule
import Logging
import NIOCore
import NIOPosix
import Remoting
import Storage
import Synchronization

public struct MessageStoreConfig: Sendable {
    public var storePathRootDir: String
    public var storePathCommitLog: String
    public var mappedFileSizeCommitLog: Int
    /// Entries per ConsumeQueue file (RocketMQ's 300 000).
    public var consumeQueueEntriesPerFile: Int
    public var flushDiskType: FlushDiskType
    public var flushIntervalCommitLog: Int
    public var flushIntervalConsumeQueue: Int
    /// Delay per level in ms, level 1 first.
    public var delayLevelMillis: [Int64]
    public var maxTransferCountOnMessageInMemory: Int
    public var maxTransferBytesOnMessageInMemory: Int
    public var storeHost: HostAddress
    public var messageIndexEnable = true
    public var maxHashSlotNum = 5_000_000
    public var maxIndexNum = 20_000_000
    /// How long a put waits for the DLedger quorum before answering FLUSH_SLAVE_TIMEOUT.
    public var quorumAckTimeoutMillis = 2500
    /// How fast the scrubber verifies sealed CommitLog segments; 0 turns it off.
    public var commitLogScrubBytesPerSecond = 4 * 1024 * 1024
    /// `syncFlushTimeout`: how long a put waits for its fsync (SYNC_FLUSH) or its slave (SYNC_MASTER).
    public var syncFlushTimeoutMillis = 5000
    /// A pull that leaves more than this many CommitLog bytes unread behind it reads cold data:
    /// its response suggests a slave (`accessMessageInMemoryMaxRatio` percent of the RAM); `.max`
    /// when the broker suggests nothing (no `slaveReadEnable`, or DLedger mode).
    public var accessMessageInMemoryMaxBytes = Int64.max

    public var storePathConsumeQueue: String { storePathRootDir + "/consumequeue" }
    public var storePathIndex: String { storePathRootDir + "/index" }
}

/// The broker's store: the CommitLog (behind `CommitLogStorage`), ConsumeQueues built by dispatch,
/// flushing, and the read side used by pulls and queries.
///
/// All writes go through one lock: assign queue offsets → encode (with physical offsets) →
/// append → dispatch the records that became dispatchable. Readers take the same lock briefly.
///
/// The log is injected: the local CommitLog, or the DLedger log (`replicatedLog`), whose
/// records the reput service dispatches up to the commit point on leader and followers alike.
public final class MessageStore: Sendable {
    public let config: MessageStoreConfig
    let logger: Logger
    let state: Mutex<StoreState>
    let groupCommit: GroupCommitService
    let lastCheckpoint = Atomic<Int64>(-1)
    /// Why writes are refused (the disk passed `diskSpaceWarningLevelRatio`), or nil.
    let writeBlock = Mutex<String?>(nil)
    /// The I/O error of the current failure episode (logged once), or nil while writes succeed.
    let ioErrorEpisode = Mutex<String?>(nil)
    /// Called (outside the lock) with the queues that received messages: wakes long polls.
    let arrivalListener: @Sendable ([TopicQueueKey]) -> Void
    /// Damaged records met by reads or the scrubber.
    public let damage = DamageRegistry()
    public let scrubProgress = CommitLogScrubber.Progress()
    /// The DLedger log in DLedger mode; nil for the local CommitLog.
    public let replicatedLog: DLedgerServer?
    /// Where the CommitLog ends, advanced after every write: what an HA connection streams up to.
    public let writtenEnd = OffsetWaiter()
    /// SYNC_MASTER: where a put waits for its slave; nil otherwise.
    let slaveAcknowledgements: SlaveAcknowledgements?

    struct StoreState: ~Copyable {
        var commitLog: any CommitLogStorage
        var consumeQueues: [TopicQueueKey: ConsumeQueue] = [:]
        /// Next queue offset to assign per queue (`topicQueueTable`).
        var queueOffsets: [TopicQueueKey: Int64] = [:]
        /// Appended records not yet in their ConsumeQueue (waiting to become dispatchable).
        var pendingDispatch = Deque<DispatchRequest>()
        var index: IndexService
        /// Replicated log: where the reput service continues (records before it are dispatched).
        var reputOffset: Int64 = 0
    }

    public init(
        config: MessageStoreConfig, logger: Logger, replicatedLog: DLedgerServer? = nil,
        slaveAcknowledgements: SlaveAcknowledgements? = nil,
        arrivalListener: @escaping @Sendable ([TopicQueueKey]) -> Void
    ) {
        self.config = config
        self.logger = logger
        self.arrivalListener = arrivalListener
        self.replicatedLog = replicatedLog
        self.slaveAcknowledgements = slaveAcknowledgements
        let commitLog: any CommitLogStorage =
            replicatedLog.map { DLedgerCommitLog(server: $0) }
            ?? CommitLog(directory: config.storePathCommitLog, segmentSize: config.mappedFileSizeCommitLog)
        let index = IndexService(
            directory: config.storePathIndex, slotCount: config.maxHashSlotNum, entryCount: config.maxIndexNum)
        state = Mutex(StoreState(commitLog: commitLog, index: index))
        groupCommit = GroupCommitService(logger: logger, timeout: .milliseconds(config.syncFlushTimeoutMillis))
    }
}
