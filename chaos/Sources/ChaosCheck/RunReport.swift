/// `report.md`: the verdict, each check with its count, RTO and the longest ack gap per fault
/// kind, every cycle, and the first offending values of any failed check.
public enum RunReport {
    public static func render(_ summary: RunSummary, command: String, timeline: String) -> String {
        let v = summary.verdict
        var lines = [
            "# Chaos run: \(summary.passed ? "passed" : "FAILED")", "",
            "`\(command)` (seed \(summary.seed)): \(summary.cycles) cycles, \(v.invoked) values sent, "
                + "\(v.acked) acknowledged.", "",
            "![timeline](\(timeline))", "",
            "## Checks", "",
            "| check | count | must be |", "|---|---|---|",
        ]
        let checks: [(String, Int, String)] = [
            ("lost (acknowledged, not stored after recovery)", v.lost.count, "0"),
            ("undelivered (stored, never consumed)", v.undelivered.count, "0"),
            ("unexpected (stored or consumed, never sent)", v.unexpected.count, "0"),
            ("divergent offsets (two values at one position)", v.divergentOffsets.count, "0"),
            ("ack position mismatches", v.ackPositionMismatches.count, "0"),
            ("queue gaps", v.gaps.count, "0"),
            ("order violations (per sharding key)", v.orderViolations.count, "0"),
            ("unexplained duplicates (one acknowledged attempt, stored twice)", v.unexplainedDuplicates.count, "0"),
            ("divergent replicas (committed prefix differs)", summary.divergentReplicas, "0"),
            ("runner errors", summary.runnerErrors.count, "0"),
            ("duplicates (stored twice after a retried or indeterminate send)", v.duplicates, "reported"),
            ("redelivered (same value, same position, again)", v.redelivered, "reported"),
            ("recovered (indeterminate send that was stored)", v.recovered, "reported"),
            ("failed but stored (definite failure that was stored)", v.failedButStored.count, "reported"),
        ]
        lines += checks.map { "| \($0.0) | \($0.1) | \($0.2) |" }
        lines += [
            "", "## Availability per fault kind", "",
            "| fault | n | RTO p50 ms | RTO p99 ms | RTO max ms | max ack gap ms | heal→ack p50 ms | heal→ack max ms |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for fault in summary.faults.keys.sorted() {
            let rto = summary.rto(of: fault)
            let outcomes = summary.outcomes.filter { $0.fault == fault }
            let healed = outcomes.compactMap(\.healToAckMillis)
            lines.append(
                "| \(fault) | \(summary.faults[fault] ?? 0) | \(RunSummary.number(rto.p50)) | "
                    + "\(RunSummary.number(rto.p99)) | \(RunSummary.number(rto.max)) | "
                    + "\(RunSummary.number(outcomes.map(\.maxAckGapMillis).max())) | "
                    + "\(RunSummary.number(Availability.percentile(healed, 0.5))) | "
                    + "\(RunSummary.number(healed.max())) |")
        }
        let all = summary.rto()
        lines.append(
            "| all | \(summary.outcomes.count) | \(RunSummary.number(all.p50)) | \(RunSummary.number(all.p99)) | "
                + "\(RunSummary.number(all.max)) | \(RunSummary.number(summary.outcomes.map(\.maxAckGapMillis).max())) | "
                + "\(RunSummary.number(Availability.percentile(summary.outcomes.compactMap(\.healToAckMillis), 0.5))) | "
                + "\(RunSummary.number(summary.outcomes.compactMap(\.healToAckMillis).max())) |"
        )
        lines += [
            "", "## Cycles", "", "| # | fault | start s | healed s | RTO ms | max ack gap ms | heal→ack ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for (index, outcome) in summary.outcomes.enumerated() {
            lines.append(
                "| \(index) | \(outcome.fault) | \(seconds(outcome.startMillis)) | "
                    + "\(outcome.endMillis.map(seconds) ?? "-") | \(RunSummary.number(outcome.rtoMillis)) | "
                    + "\(RunSummary.number(outcome.maxAckGapMillis)) | \(RunSummary.number(outcome.healToAckMillis)) |")
        }
        let offenders: [(String, [String])] = [
            ("lost", v.lost), ("undelivered", v.undelivered), ("unexpected", v.unexpected),
            ("divergent offsets", v.divergentOffsets.map(\.description)),
            ("ack position mismatches", v.ackPositionMismatches), ("gaps", v.gaps.map(\.description)),
            ("order violations", v.orderViolations), ("unexplained duplicates", v.unexplainedDuplicates),
            ("failed but stored", v.failedButStored), ("runner errors", summary.runnerErrors),
        ]
        for (name, values) in offenders where !values.isEmpty {
            lines += ["", "## \(name) (first 20 of \(values.count))", ""]
            lines += values.prefix(20).map { "- `\($0)`" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func seconds(_ millis: Double) -> String { String(Double(Int(millis / 100)) / 10) }
}
