/// Reserved message property names (`MessageConst`).
public enum MessageConst {
    public static let tags = "TAGS"
    public static let keys = "KEYS"
    public static let wait = "WAIT"
    public static let delayTimeLevel = "DELAY"
    public static let uniqueKey = "UNIQ_KEY"
    public static let retryTopic = "RETRY_TOPIC"
    public static let realTopic = "REAL_TOPIC"
    public static let realQueueId = "REAL_QID"
    public static let transactionPrepared = "TRAN_MSG"
    public static let producerGroup = "PGROUP"
    public static let transactionCheckTimes = "TRANSACTION_CHECK_TIMES"
    public static let originMessageId = "ORIGIN_MESSAGE_ID"
    public static let maxReconsumeTimes = "MAX_RECONSUME_TIMES"
    public static let cluster = "CLUSTER"
    public static let keySeparator = " "
}

/// Topic and group names RocketMQ reserves (`TopicValidator`, `MixAll`).
public enum SystemTopics {
    public static let autoCreateTopicKey = "TBW102"
    public static let schedule = "SCHEDULE_TOPIC_XXXX"
    public static let transactionHalf = "RMQ_SYS_TRANS_HALF_TOPIC"
    public static let transactionOpHalf = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
    public static let transactionCheckMaxTime = "TRANS_CHECK_MAX_TIME_TOPIC"
    public static let selfTest = "SELF_TEST_TOPIC"
    public static let offsetMovedEvent = "OFFSET_MOVED_EVENT"
    public static let retryGroupPrefix = "%RETRY%"
    public static let dlqGroupPrefix = "%DLQ%"

    /// Topics producers may not send to.
    public static let notAllowedToSend: Set<String> = [
        schedule, transactionHalf, transactionOpHalf, transactionCheckMaxTime, selfTest, offsetMovedEvent,
    ]

    public static func retryTopic(for group: String) -> String { retryGroupPrefix + group }
    public static func dlqTopic(for group: String) -> String { dlqGroupPrefix + group }

    public static let topicMaxLength = 127
    public static let groupMaxLength = 255

    /// Topic names: `[%|a-zA-Z0-9_-]`, 1 to 127 characters (RocketMQ's `TopicValidator`). A
    /// group's retry or dead-letter topic may be as long as its prefix and the group's name.
    public static func validate(_ topic: String) -> String? {
        let limit =
            topic.hasPrefix(retryGroupPrefix) || topic.hasPrefix(dlqGroupPrefix)
            ? retryGroupPrefix.utf8.count + groupMaxLength : topicMaxLength
        return validateName(topic, kind: "topic", maxLength: limit)
    }

    /// Group names: the topic characters, 1 to 255 characters (RocketMQ's `Validators.checkGroup`).
    public static func validateGroup(_ group: String) -> String? {
        validateName(group, kind: "group", maxLength: groupMaxLength)
    }

    static func validateName(_ name: String, kind: String, maxLength: Int) -> String? {
        if name.isEmpty { return "The specified \(kind) is blank." }
        if name.utf8.count > maxLength {
            return "The specified \(kind) is longer than \(kind) max length \(maxLength)."
        }
        for byte in name.utf8 {
            let ok =
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "|") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
            if !ok {
                let shown = name.utf8.count > 64 ? String(name.prefix(64)) + "…" : name
                return "The specified \(kind)[\(shown)] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
            }
        }
        return nil
    }
}

public enum MessageSysFlag {
    public static let compressed: Int32 = 0x1
    public static let multiTags: Int32 = 0x2
    public static let transactionNotType: Int32 = 0
    public static let transactionPreparedType: Int32 = 0x4
    public static let transactionCommitType: Int32 = 0x8
    public static let transactionRollbackType: Int32 = 0xC
    public static let bornHostV6: Int32 = 0x10
    public static let storeHostV6: Int32 = 0x20

    public static func transactionValue(_ flag: Int32) -> Int32 { flag & transactionRollbackType }
    public static func resetTransactionValue(_ flag: Int32, _ type: Int32) -> Int32 {
        (flag & ~transactionRollbackType) | type
    }
}

public enum PullSysFlag {
    public static let commitOffset: Int32 = 0x1
    public static let suspend: Int32 = 0x2
    public static let subscription: Int32 = 0x4
    public static let classFilter: Int32 = 0x8
    public static let litePull: Int32 = 0x10
}

public enum Permission {
    public static let priority: Int32 = 8
    public static let read: Int32 = 4
    public static let write: Int32 = 2
    public static let inherit: Int32 = 1
    /// Every permission bit together: the largest valid `perm`.
    public static let all: Int32 = priority | read | write | inherit

    public static func isReadable(_ perm: Int32) -> Bool { perm & read != 0 }
    public static func isWritable(_ perm: Int32) -> Bool { perm & write != 0 }
    public static func isInherited(_ perm: Int32) -> Bool { perm & inherit != 0 }
}
