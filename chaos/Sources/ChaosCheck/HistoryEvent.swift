/// One line of a chaos run's history (`history.jsonl`), timestamped by the runner's monotonic
/// clock in milliseconds since the run began (never by a broker's clock, which a fault may skew).
///
/// - `invoke` / `ok` / `fail` / `info`: one send attempt of `val` and how it ended. `fail` is
///   definite (the message was not stored), `info` indeterminate (a timeout, a closed
///   connection, a non-OK send status: it may be stored). An `ok` carries the position the
///   broker acknowledged.
/// - `recv`: a consumer was handed `val` at `pos`.
/// - `scan`: the final full read of every queue found `val` at `pos`.
/// - `nemesis`: a fault began (`start`) or was healed (`end`).
public struct HistoryEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case invoke, ok, fail, info, recv, scan, nemesis
    }
    public enum Phase: String, Codable, Sendable {
        case start, end
    }

    public var t: Double
    public var type: Kind
    /// The producer or consumer (`p2`, `c0`), or `nemesis` / `scan`.
    public var proc: String
    public var val: String?
    /// The sharding key of an ordered send.
    public var key: String?
    /// 1 for a value's first attempt, 2 for its first retry, and so on.
    public var attempt: Int?
    public var pos: QueuePosition?
    public var fault: String?
    public var phase: Phase?
    /// What failed (`fail`/`info`), or what a fault did (`nemesis`).
    public var detail: String?

    public init(
        t: Double, type: Kind, proc: String, val: String? = nil, key: String? = nil, attempt: Int? = nil,
        pos: QueuePosition? = nil, fault: String? = nil, phase: Phase? = nil, detail: String? = nil
    ) {
        self.t = t
        self.type = type
        self.proc = proc
        self.val = val
        self.key = key
        self.attempt = attempt
        self.pos = pos
        self.fault = fault
        self.phase = phase
        self.detail = detail
    }
}

/// Where a message sits: topic, broker group (brokerName), queue id and queue offset.
public struct QueuePosition: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var group: String
    public var queue: Int32
    public var offset: Int64

    public init(topic: String, group: String, queue: Int32, offset: Int64) {
        self.topic = topic
        self.group = group
        self.queue = queue
        self.offset = offset
    }

    public var queueName: String { "\(topic)/\(group)/\(queue)" }
    public var description: String { "\(queueName)@\(offset)" }

    public static func < (a: QueuePosition, b: QueuePosition) -> Bool {
        (a.topic, a.group, a.queue, a.offset) < (b.topic, b.group, b.queue, b.offset)
    }
}
