/// The run's result: the final JSON line (keys in the order the issue names them, then the
/// rest) and whether the run passed. `divergentReplicas` comes from the replica comparison,
/// not from the history.
public struct RunSummary: Sendable {
    public var seed: UInt64
    public var cycles: Int
    public var faults: [String: Int]
    public var verdict: HistoryChecker.Verdict
    public var outcomes: [FaultOutcome]
    public var divergentReplicas: Int
    /// Problems the runner met (a node that never came back, a drain that timed out).
    public var runnerErrors: [String]

    public init(
        seed: UInt64, cycles: Int, verdict: HistoryChecker.Verdict, outcomes: [FaultOutcome], divergentReplicas: Int,
        runnerErrors: [String]
    ) {
        self.seed = seed
        self.cycles = cycles
        self.verdict = verdict
        self.outcomes = outcomes
        self.divergentReplicas = divergentReplicas
        self.runnerErrors = runnerErrors
        faults = outcomes.reduce(into: [:]) { $0[$1.fault, default: 0] += 1 }
    }

    public var passed: Bool { verdict.violationCount == 0 && divergentReplicas == 0 && runnerErrors.isEmpty }

    /// RTO percentiles (ms) over `outcomes`, or over one fault kind's.
    public func rto(of fault: String? = nil) -> (p50: Double?, p99: Double?, max: Double?) {
        let values = outcomes.filter { fault == nil || $0.fault == fault }.compactMap(\.rtoMillis)
        return (
            Availability.percentile(values, 0.5), Availability.percentile(values, 0.99),
            Availability.percentile(values, 1)
        )
    }

    public var jsonLine: String {
        let v = verdict
        let rto = rto()
        var fields: [(String, String)] = [
            ("cycles", "\(cycles)"),
            (
                "faults",
                "{" + faults.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
            ),
            ("acked", "\(v.acked)"), ("lost", "\(v.lost.count)"), ("unexpected", "\(v.unexpected.count)"),
            ("duplicates", "\(v.duplicates)"), ("order_violations", "\(v.orderViolations.count)"),
            ("divergent_replicas", "\(divergentReplicas)"),
            (
                "rto_ms",
                "{\"p50\":\(Self.number(rto.p50)),\"p99\":\(Self.number(rto.p99)),\"max\":\(Self.number(rto.max))}"
            ),
        ]
        fields += [
            ("seed", "\(seed)"), ("invoked", "\(v.invoked)"), ("undelivered", "\(v.undelivered.count)"),
            ("divergent_offsets", "\(v.divergentOffsets.count)"),
            ("ack_pos_mismatch", "\(v.ackPositionMismatches.count)"), ("gaps", "\(v.gaps.count)"),
            ("unexplained_duplicates", "\(v.unexplainedDuplicates.count)"), ("redelivered", "\(v.redelivered)"),
            ("recovered", "\(v.recovered)"), ("failed_but_stored", "\(v.failedButStored.count)"),
            ("max_ack_gap_ms", Self.number(outcomes.map(\.maxAckGapMillis).max())),
            ("runner_errors", "\(runnerErrors.count)"), ("passed", passed ? "true" : "false"),
        ]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "null" }
        return String(Int(value.rounded()))
    }
}
