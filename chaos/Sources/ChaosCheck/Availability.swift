/// What each fault cost the producers, from the history alone (openmessaging-chaos's RTO
/// checker, measured from the fault rather than from the first failure):
/// - `rtoMillis`: from the fault's start to the acknowledgement of the first send attempt
///   that began after it;
/// - `maxAckGapMillis`: the longest stretch without any acknowledgement, from the fault's
///   start until the next fault starts (or the history ends);
/// - `healToAckMillis`: from the heal to the acknowledgement of the first send attempt begun
///   after it (what recovery costs once the fault is gone: the RTO of a kill of all nodes is
///   mostly the time they were held down).
public struct FaultOutcome: Sendable, Equatable {
    public var fault: String
    public var startMillis: Double
    public var endMillis: Double?
    public var rtoMillis: Double?
    public var maxAckGapMillis: Double
    public var healToAckMillis: Double?
}

public enum Availability {
    public static func outcomes(_ history: [HistoryEvent]) -> [FaultOutcome] {
        var starts: [(fault: String, t: Double)] = []
        var ends: [Int: Double] = [:]
        var open: [String: Int] = [:]
        var invokeTimes: [String: [Double]] = [:]  // val -> attempt start times, in order
        var acks: [(invoked: Double, acked: Double)] = []
        for event in history {
            switch event.type {
            case .nemesis:
                guard let fault = event.fault else { continue }
                if event.phase == .start {
                    open[fault] = starts.count
                    starts.append((fault, event.t))
                } else if let index = open.removeValue(forKey: fault) {
                    ends[index] = event.t
                }
            case .invoke:
                if let val = event.val { invokeTimes[val, default: []].append(event.t) }
            case .ok:
                // The attempt acknowledged is the latest one begun before the ack.
                guard let val = event.val, let begun = invokeTimes[val]?.last(where: { $0 <= event.t }) else {
                    continue
                }
                acks.append((begun, event.t))
            default:
                continue
            }
        }
        let ackTimes = acks.map(\.acked).sorted()
        let historyEnd = history.last?.t ?? 0
        return starts.enumerated().map { index, start in
            let windowEnd = index + 1 < starts.count ? starts[index + 1].t : historyEnd
            let rto = acks.filter { $0.invoked >= start.t }.map(\.acked).min().map { $0 - start.t }
            var previous = start.t
            var gap = 0.0
            for ack in ackTimes where ack > start.t && ack <= windowEnd {
                gap = max(gap, ack - previous)
                previous = ack
            }
            gap = max(gap, (rto == nil ? windowEnd : previous) - previous)
            let healToAck = ends[index].flatMap { healed in
                acks.filter { $0.invoked >= healed }.map(\.acked).min().map { $0 - healed }
            }
            return FaultOutcome(
                fault: start.fault, startMillis: start.t, endMillis: ends[index], rtoMillis: rto, maxAckGapMillis: gap,
                healToAckMillis: healToAck)
        }
    }

    /// The value at quantile `q` (0...1) of `values`, nearest rank; nil when empty.
    public static func percentile(_ values: [Double], _ q: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}
