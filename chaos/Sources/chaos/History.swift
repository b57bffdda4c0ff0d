import ChaosCheck
import Foundation
import Synchronization

/// The run's history as it happens: every send attempt and its outcome, every delivery, every
/// fault. One owner (this recorder) for the event list; times come from the runner's monotonic
/// clock, in milliseconds since the run began.
final class History: Sendable {
    let started = ContinuousClock.now
    private let events = Mutex<[HistoryEvent]>([])

    var nowMillis: Double {
        let elapsed = ContinuousClock.now - started
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }

    func record(
        _ type: HistoryEvent.Kind, proc: String, val: String? = nil, key: String? = nil, attempt: Int? = nil,
        pos: QueuePosition? = nil, detail: String? = nil
    ) {
        events.withLock {
            $0.append(
                HistoryEvent(
                    t: nowMillis, type: type, proc: proc, val: val, key: key, attempt: attempt, pos: pos, detail: detail
                ))
        }
    }

    /// A fault's start or end at `t` (now when nil). A start is stamped with the moment the
    /// fault was applied (what it did is known only afterwards) and goes in its place among the
    /// events recorded meanwhile, so the history stays in time order.
    func nemesis(_ fault: FaultKind, _ phase: HistoryEvent.Phase, detail: String, at t: Double? = nil) {
        let event = HistoryEvent(
            t: t ?? nowMillis, type: .nemesis, proc: "nemesis", fault: fault.rawValue, phase: phase, detail: detail)
        events.withLock { events in
            var index = events.endIndex
            while index > events.startIndex, events[index - 1].t > event.t { index -= 1 }
            events.insert(event, at: index)
        }
    }

    var snapshot: [HistoryEvent] { events.withLock { $0 } }

    /// `history.jsonl`: one event per line.
    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for event in snapshot {
            data.append(try encoder.encode(event))
            data.append(0x0A)
        }
        try data.write(to: URL(fileURLWithPath: path))
    }
}
