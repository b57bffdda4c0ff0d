import NIOCore
import Remoting

public struct TopicQueueKey: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var queueId: Int32
    public init(_ topic: String, _ queueId: Int32) {
        self.topic = topic
        self.queueId = queueId
    }
    public var description: String { "\(topic)-\(queueId)" }
}

/// What the store did with a put (`PutMessageStatus`).
public enum PutMessageStatus: Sendable, Equatable {
    case putOK
    case flushDiskTimeout
    /// Written on the leader, but the quorum did not confirm it in time: the outcome is unknown
    /// (it may still commit). RocketMQ's FLUSH_SLAVE_TIMEOUT.
    case flushSlaveTimeout
    /// SYNC_MASTER: stored on the master, but no slave is connected (or it is too far behind).
    case slaveNotAvailable
    /// SYNC_MASTER: stored on the master; the slave did not confirm it within `syncFlushTimeout`.
    /// FLUSH_SLAVE_TIMEOUT on the wire, like the DLedger case, but here the outcome is known.
    case slaveAckTimeout
    case serviceNotAvailable(String)
    case messageIllegal(String)
    case unknownError(String)
}

extension PutMessageStatus {
    /// The message is in the CommitLog (a flush timeout still stored it).
    public var isStored: Bool {
        self == .putOK || self == .flushDiskTimeout || self == .slaveNotAvailable || self == .slaveAckTimeout
    }
}

public struct AppendedMessage: Sendable, Equatable {
    public var commitLogOffset: Int64
    public var size: Int
    public var queueOffset: Int64
    public var offsetMessageId: String
}

public struct PutMessageResult: Sendable {
    public var status: PutMessageStatus
    public var appended: [AppendedMessage] = []
}

/// Outcome of reading a queue (`GetMessageStatus`), see the pull decision table.
public enum GetMessageStatus: String, Sendable {
    case found = "FOUND"
    case noMatchedMessage = "NO_MATCHED_MESSAGE"
    case messageWasRemoving = "MESSAGE_WAS_REMOVING"
    case offsetFoundNull = "OFFSET_FOUND_NULL"
    case offsetOverflowBadly = "OFFSET_OVERFLOW_BADLY"
    case offsetOverflowOne = "OFFSET_OVERFLOW_ONE"
    case offsetTooSmall = "OFFSET_TOO_SMALL"
    case noMatchedLogicQueue = "NO_MATCHED_LOGIC_QUEUE"
    case noMessageInQueue = "NO_MESSAGE_IN_QUEUE"
    /// The record at the requested offset failed its checksum; nothing is served for it.
    case messageDamaged = "MESSAGE_DAMAGED"
}

public struct GetMessageResult: Sendable {
    public var status: GetMessageStatus
    public var nextBeginOffset: Int64
    public var minOffset: Int64
    public var maxOffset: Int64
    /// Stored records back to back, exactly as in the CommitLog.
    public var messages = ByteBuffer()
    public var messageCount = 0
    /// What was wrong with the record at the requested offset (`messageDamaged`).
    public var damage: String?
    /// The pull reads cold data: more than `accessMessageInMemoryMaxRatio` of the RAM of newer
    /// CommitLog bytes lies after it (RocketMQ's `suggestPullingFromSlave`).
    public var readsColdData = false
}

/// A record's facts needed to build its ConsumeQueue entry (`DispatchRequest`).
public struct DispatchRequest: Sendable {
    public var topic: String
    public var queueId: Int32
    public var commitLogOffset: Int64
    public var size: Int32
    public var tagsCode: Int64
    public var storeTimestamp: Int64
    public var queueOffset: Int64
    public var sysFlag: Int32
    public var keys: String?
    public var uniqueKey: String?
}

public enum FlushDiskType: String, Sendable {
    case syncFlush = "SYNC_FLUSH"
    case asyncFlush = "ASYNC_FLUSH"
}
