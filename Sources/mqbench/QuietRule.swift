import Remoting

/// The workload's quiet rule: before a measured run, wait (up to 180 s) until processes other
/// than the servers use < 15 % of one core for 3 consecutive seconds; a run during which they
/// used > 30 % is contended and measured again, at most 3 attempts, the last one recorded.
enum QuietRule {
    static let quietBelowPercent = 15.0
    static let contendedAbovePercent = 30.0
    static let maxAttempts = 3

    /// True once quiet; false after 180 s without.
    static func waitUntilQuiet(servers: [Int32]) async -> Bool {
        var quietSeconds = 0
        var previous = CPUSample.take(servers: servers)
        for _ in 0..<180 {
            try? await Task.sleep(for: .seconds(1))
            let now = CPUSample.take(servers: servers)
            let usage = CPUSample.usage(from: previous, to: now)
            previous = now
            quietSeconds = usage.busy - usage.server < quietBelowPercent ? quietSeconds + 1 : 0
            if quietSeconds >= 3 { return true }
        }
        return false
    }

    /// Runs `body` under the rule; the fields get `attempts`.
    static func measure(
        servers: [Int32], enabled: Bool, _ body: (_ attempt: Int) async throws -> ([String: JSONValue], CPUUsage)
    ) async rethrows -> (fields: [String: JSONValue], cpu: CPUUsage) {
        var attempt = 1
        while true {
            if enabled, !(await waitUntilQuiet(servers: servers)) {
                print("[quiet] the machine stayed busy for 180 s; measuring anyway")
            }
            var (fields, cpu) = try await body(attempt)
            fields["attempts"] = .int(attempt)
            if !enabled || cpu.other <= contendedAbovePercent || attempt == maxAttempts { return (fields, cpu) }
            print("[quiet] contended (other processes \(rounded(cpu.other, 10)) % of a core): measuring again")
            attempt += 1
        }
    }
}
