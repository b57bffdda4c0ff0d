/// What W3 measures about one leader kill, from acknowledgements alone (no I/O, no clock):
/// unavailability, the longest gap between acks after the kill, and, against what was read
/// back, acknowledged ids that were lost and ids stored more than once.
struct FailoverRecord: Sendable {
    /// When the leader was killed (ns of the bench clock), once it was.
    private(set) var killNanos: Int64?
    /// Id → ack time of its first acknowledgement.
    private(set) var acked: [UInt64: Int64] = [:]
    /// Acknowledgements for an id that was already acknowledged.
    private(set) var duplicateAcks = 0
    /// Ack times, in arrival order.
    private(set) var ackTimes: [Int64] = []
    /// The first ack of an attempt sent after the kill.
    private(set) var firstAckOfPostKillAttempt: Int64?

    mutating func recordKill(atNanos nanos: Int64) {
        precondition(killNanos == nil, "one kill per record")
        killNanos = nanos
    }

    mutating func recordAck(id: UInt64, attemptSentNanos: Int64, ackNanos: Int64) {
        if acked[id] == nil {
            acked[id] = ackNanos
        } else {
            duplicateAcks += 1
        }
        ackTimes.append(ackNanos)
        if let kill = killNanos, attemptSentNanos > kill {
            firstAckOfPostKillAttempt = min(firstAckOfPostKillAttempt ?? ackNanos, ackNanos)
        }
    }

    /// Kill → first ack of an attempt sent after it (acks of attempts in flight at the kill do
    /// not count); nil without a kill or without such an ack.
    var unavailabilityNanos: Int64? {
        guard let kill = killNanos, let first = firstAckOfPostKillAttempt else { return nil }
        return first - kill
    }

    /// The longest time without an ack from the kill on: kill → first ack, then between
    /// consecutive acks.
    var maxAckGapAfterKillNanos: Int64? {
        guard let kill = killNanos else { return nil }
        let after = ackTimes.filter { $0 >= kill }.sorted()
        guard !after.isEmpty else { return nil }
        var previous = kill
        var longest: Int64 = 0
        for time in after {
            longest = max(longest, time - previous)
            previous = time
        }
        return longest
    }

    /// (acknowledged ids missing from `stored`, ids present more than once in `stored`).
    static func verify(acked: some Collection<UInt64>, stored: [UInt64]) -> (lost: Int, duplicates: Int) {
        var counts: [UInt64: Int] = [:]
        for id in stored { counts[id, default: 0] += 1 }
        let lost = acked.reduce(0) { $0 + (counts[$1] == nil ? 1 : 0) }
        let duplicates = counts.values.reduce(0) { $0 + max(0, $1 - 1) }
        return (lost, duplicates)
    }
}
