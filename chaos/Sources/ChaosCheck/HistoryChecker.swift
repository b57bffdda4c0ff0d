/// The verdicts over a run's history: what was acknowledged and is gone, what appeared from
/// nowhere, duplicates and their causes, order per sharding key, and positions that two
/// different values claim. Pure: the same history always gives the same verdict.
///
/// Hard failures (`violations`): lost, undelivered, unexpected, divergent offsets, ack position
/// mismatches, queue gaps, unexplained duplicates and order violations. Reported only:
/// recovered (an indeterminate send that was stored, which is legal), failed-but-stored (a
/// definite failure that was stored: the client misclassified it), explained duplicates and
/// redeliveries (the at-least-once cost).
public struct HistoryChecker: Sendable {
    public struct Verdict: Sendable, Equatable {
        public var invoked = 0
        public var acked = 0
        /// Acknowledged, but in no queue after the final recovery.
        public var lost: [String] = []
        /// Acknowledged and stored, but never handed to a consumer of its group.
        public var undelivered: [String] = []
        /// Stored or delivered, but never sent.
        public var unexpected: [String] = []
        /// Positions at which two different values were seen (log divergence).
        public var divergentOffsets: [QueuePosition] = []
        /// Acknowledged at one position but stored elsewhere (or not at that position).
        public var ackPositionMismatches: [String] = []
        /// Queue offsets missing between a queue's first and last stored message.
        public var gaps: [QueuePosition] = []
        /// Values stored more than once whose sends had a retried or indeterminate attempt.
        public var duplicates = 0
        /// Values stored more than once after a single, acknowledged attempt (a broker bug).
        public var unexplainedDuplicates: [String] = []
        /// Deliveries of a value at a position it had been delivered at before.
        public var redelivered = 0
        /// Indeterminate or failed sends that were stored anyway.
        public var recovered = 0
        public var failedButStored: [String] = []
        /// Sharding keys whose acknowledged sends are not a subsequence of what was stored or
        /// of what consumers received, with the first value out of place.
        public var orderViolations: [String] = []

        public var violationCount: Int {
            lost.count + undelivered.count + unexpected.count + divergentOffsets.count
                + ackPositionMismatches.count + gaps.count + unexplainedDuplicates.count + orderViolations.count
        }
    }

    struct Send {
        var key: String?
        var attempts = 0
        var acks: [QueuePosition] = []
        var indeterminate = false
        var failed = false
    }

    public init() {}

    public func check(_ history: [HistoryEvent]) -> Verdict {
        var verdict = Verdict()
        var sends: [String: Send] = [:]
        var stored: [String: Set<QueuePosition>] = [:]
        var storedAt: [QueuePosition: Set<String>] = [:]
        var received: [String: [QueuePosition]] = [:]
        var deliveredPairs: [QueuePosition: [String: Int]] = [:]
        // Order is checked per sharding key and queue: RocketMQ keeps a key in order within the
        // queue it hashes to, and a key moves to another queue when its group's queues leave
        // the route (a group without a master).
        var receiveOrder: [String: [String]] = [:]  // key@queue -> values in receive order
        var ackOrder: [String: [String]] = [:]  // key@queue -> acknowledged values in send order
        for event in history {
            guard let val = event.val else { continue }
            switch event.type {
            case .invoke:
                sends[val, default: Send(key: event.key)].attempts += 1
            case .ok:
                if let pos = event.pos { sends[val, default: Send(key: event.key)].acks.append(pos) }
                if let key = event.key, let pos = event.pos, sends[val]?.acks.count == 1 {
                    ackOrder[Self.orderKey(key, pos), default: []].append(val)
                }
            case .fail:
                sends[val, default: Send(key: event.key)].failed = true
            case .info:
                sends[val, default: Send(key: event.key)].indeterminate = true
            case .recv:
                guard let pos = event.pos else { continue }
                received[val, default: []].append(pos)
                storedAt[pos, default: []].insert(val)
                deliveredPairs[pos, default: [:]][val, default: 0] += 1
                if let key = event.key { receiveOrder[Self.orderKey(key, pos), default: []].append(val) }
            case .scan:
                guard let pos = event.pos else { continue }
                stored[val, default: []].insert(pos)
                storedAt[pos, default: []].insert(val)
            case .nemesis:
                continue
            }
        }
        verdict.invoked = sends.count
        verdict.acked = sends.values.filter { !$0.acks.isEmpty }.count
        for (val, send) in sends.sorted(by: { $0.key < $1.key }) {
            let copies = stored[val] ?? []
            if !send.acks.isEmpty {
                if copies.isEmpty {
                    verdict.lost.append(val)
                } else if received[val] == nil {
                    verdict.undelivered.append(val)
                }
                if !copies.isEmpty, send.acks.contains(where: { !copies.contains($0) }) {
                    verdict.ackPositionMismatches.append(val)
                }
            } else if !copies.isEmpty {
                verdict.recovered += 1
                if send.failed, !send.indeterminate { verdict.failedButStored.append(val) }
            }
            if copies.count > 1 {
                if send.attempts > 1 || send.indeterminate || send.failed {
                    verdict.duplicates += copies.count - 1
                } else {
                    verdict.unexplainedDuplicates.append(val)
                }
            }
        }
        let seen = Set(stored.keys).union(received.keys)
        verdict.unexpected = seen.subtracting(sends.keys).sorted()
        verdict.divergentOffsets = storedAt.filter { $0.value.count > 1 }.map(\.key).sorted()
        verdict.redelivered = deliveredPairs.values.reduce(0) { sum, counts in
            sum + counts.values.reduce(0) { $0 + max(0, $1 - 1) }
        }
        verdict.gaps = Self.gaps(in: Array(Set(stored.values.joined())))
        verdict.orderViolations = Self.orderViolations(
            acked: ackOrder, storedOrder: Self.storedOrder(stored: stored, sends: sends), received: receiveOrder)
        return verdict
    }

    /// Offsets missing inside each queue's scanned range.
    static func gaps(in positions: [QueuePosition]) -> [QueuePosition] {
        var byQueue: [String: (first: QueuePosition, offsets: Set<Int64>)] = [:]
        for pos in positions {
            byQueue[pos.queueName, default: (pos, [])].offsets.insert(pos.offset)
        }
        var missing: [QueuePosition] = []
        for (_, entry) in byQueue {
            guard let low = entry.offsets.min(), let high = entry.offsets.max() else { continue }
            // Bounded: a corrupt scan cannot make this loop run forever.
            guard high - low < 100_000_000 else {
                missing.append(entry.first)
                continue
            }
            var offset = low
            while offset < high {
                if !entry.offsets.contains(offset) {
                    var gap = entry.first
                    gap.offset = offset
                    missing.append(gap)
                }
                offset += 1
            }
        }
        return missing.sorted()
    }

    static func orderKey(_ key: String, _ pos: QueuePosition) -> String { "\(key)@\(pos.queueName)" }

    /// Per key and queue, the stored values in offset order.
    static func storedOrder(stored: [String: Set<QueuePosition>], sends: [String: Send]) -> [String: [String]] {
        var byKey: [String: [(QueuePosition, String)]] = [:]
        for (val, positions) in stored {
            guard let key = sends[val]?.key else { continue }
            for pos in positions { byKey[orderKey(key, pos), default: []].append((pos, val)) }
        }
        return byKey.mapValues { $0.sorted { $0.0 < $1.0 }.map(\.1) }
    }

    /// Keys (per queue) whose acknowledged values (in send order) are not a subsequence of the
    /// stored or the received sequence. Duplicates and unacknowledged extras are tolerated; a lost or
    /// reordered value is not.
    static func orderViolations(
        acked: [String: [String]], storedOrder: [String: [String]], received: [String: [String]]
    ) -> [String] {
        var violations: [String] = []
        for (key, expected) in acked.sorted(by: { $0.key < $1.key }) {
            if let missing = firstOutOfOrder(expected, in: storedOrder[key] ?? []) {
                violations.append("\(key): stored order breaks at \(missing)")
            } else if let missing = firstOutOfOrder(expected, in: received[key] ?? []) {
                violations.append("\(key): consumed order breaks at \(missing)")
            }
        }
        return violations
    }

    /// The first value of `expected` that `actual` does not hold in order, or nil.
    static func firstOutOfOrder(_ expected: [String], in actual: [String]) -> String? {
        var next = 0
        for value in actual where next < expected.count && value == expected[next] {
            next += 1
        }
        return next < expected.count ? expected[next] : nil
    }
}
