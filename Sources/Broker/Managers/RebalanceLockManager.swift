import Remoting

/// Orderly consumers' queue locks (`RebalanceLockManager`): one owner client per group and queue,
/// expiring after `lockMaxLiveMillis` without renewal. A pure value; time comes in as `now`.
public struct RebalanceLockManager: Sendable {
    struct LockEntry: Sendable {
        var clientId: String
        var lastUpdateMillis: Int64
    }
    let lockMaxLiveMillis: Int64
    var table: [String: [MessageQueueKey: LockEntry]] = [:]

    public init(lockMaxLiveMillis: Int64) { self.lockMaxLiveMillis = lockMaxLiveMillis }

    /// Grants the queues that are free, expired, or already this client's (refreshing them).
    public mutating func tryLockBatch(group: String, queues: [MessageQueueKey], clientId: String, now: Int64)
        -> [MessageQueueKey]
    {
        var locks = table[group] ?? [:]
        var granted: [MessageQueueKey] = []
        for queue in queues {
            if let entry = locks[queue], entry.clientId != clientId, now - entry.lastUpdateMillis <= lockMaxLiveMillis {
                continue
            }
            locks[queue] = LockEntry(clientId: clientId, lastUpdateMillis: now)
            granted.append(queue)
        }
        table[group] = locks
        return granted
    }

    public mutating func unlockBatch(group: String, queues: [MessageQueueKey], clientId: String) {
        for queue in queues where table[group]?[queue]?.clientId == clientId {
            table[group]?[queue] = nil
        }
    }

    public func owner(group: String, queue: MessageQueueKey, now: Int64) -> String? {
        guard let entry = table[group]?[queue], now - entry.lastUpdateMillis <= lockMaxLiveMillis else { return nil }
        return entry.clientId
    }
}

/// A queue as the lock table keys it.
public typealias MessageQueueKey = Remoting.MessageQueue
