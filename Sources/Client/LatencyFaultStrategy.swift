/// Which brokers to avoid, from how sends to them went (`MQFaultStrategy`): a send that took
/// long makes its broker unavailable for a while (RocketMQ's latency table), a failed send for
/// `isolationMillis`. Pure; the caller supplies the clock.
struct LatencyFaultStrategy: Sendable {
    /// Latency thresholds (ms) and how long a broker is avoided once a send took that long.
    static let latencyMax: [Int64] = [50, 100, 550, 1000, 2000, 3000, 15000]
    static let notAvailableDuration: [Int64] = [0, 0, 30000, 60000, 120000, 180000, 600000]

    var isolationMillis: Int64
    private(set) var unavailableUntil: [String: Int64] = [:]

    init(isolationMillis: Int64) { self.isolationMillis = isolationMillis }

    mutating func record(broker: String, latencyMillis: Int64, failed: Bool, now: Int64) {
        let duration = failed ? isolationMillis : Self.duration(forLatency: latencyMillis)
        if duration > 0 {
            unavailableUntil[broker] = now + duration
        } else {
            unavailableUntil[broker] = nil
        }
    }

    static func duration(forLatency latency: Int64) -> Int64 {
        for index in latencyMax.indices.reversed() where latency >= latencyMax[index] {
            return notAvailableDuration[index]
        }
        return 0
    }

    func isAvailable(_ broker: String, now: Int64) -> Bool { (unavailableUntil[broker] ?? 0) <= now }
}
