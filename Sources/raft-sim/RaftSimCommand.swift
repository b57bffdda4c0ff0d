import ArgumentParser
import Raft
import RaftSim

@main
struct RaftSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft-sim",
        abstract: "Runs seeded Raft simulations with faults and checks safety and liveness on every step.")

    @Option(help: "How many seeds to run.")
    var seeds: Int = 100

    @Option(help: "First seed.")
    var from: UInt64 = 0

    @Option(help: "Group size (3 or 5).")
    var nodes: Int = 3

    @Option(help: "Simulated milliseconds of faults per run.")
    var faultMillis: Int = 6_000

    @Flag(help: "Do not tell peers that a crashed node's connection closed (election timeout only).")
    var noConnectionSignals = false

    @Flag(help: "Print each seed's failover time.")
    var verbose = false

    @Option(help: "Run a deliberately broken core: vote-without-log-check, commit-old-terms, skip-noop.")
    var mutation: String?

    func validate() throws {
        guard nodes >= 1 && nodes <= 9 else { throw ValidationError("--nodes must be 1...9") }
        guard seeds >= 1 else { throw ValidationError("--seeds must be positive") }
        if let mutation, Self.mutations[mutation] == nil {
            throw ValidationError(
                "unknown mutation \(mutation); one of \(Self.mutations.keys.sorted().joined(separator: ", "))")
        }
    }

    static let mutations: [String: RaftMutation] = [
        "vote-without-log-check": .voteWithoutLogFreshnessCheck,
        "commit-old-terms": .commitOldTermEntriesByCounting,
        "skip-noop": .skipLeaderNoop,
    ]

    func run() throws {
        var options = SimulationOptions(nodes: nodes, mutation: mutation.flatMap { Self.mutations[$0] })
        options.faultPhaseMillis = faultMillis
        options.connectionLossSignals = !noConnectionSignals
        var failovers: [Int] = []
        var violations = 0
        var events = 0
        var committed = 0
        var logRestarts = 0
        var firstFailure: SimulationResult?
        for seed in from..<(from + UInt64(seeds)) {
            var simulation = RaftSimulation(seed: seed, options: options)
            let result = simulation.run()
            events += result.events
            committed += result.committedEntries
            logRestarts += result.logRestarts
            if let failover = result.failoverMillis {
                failovers.append(failover)
                if verbose {
                    print(
                        "seed \(seed): failover \(failover) ms, \(result.events) events, \(result.committedEntries) committed"
                    )
                }
            }
            if result.violation != nil {
                violations += 1
                if firstFailure == nil { firstFailure = result }
            }
        }
        if let failure = firstFailure {
            print("seed \(failure.seed) violated: \(failure.violation!)")
            print("last events:")
            for line in failure.trace { print("  \(line)") }
            let mutationFlag = mutation.map { " --mutation \($0)" } ?? ""
            print(
                "replay: swift run -c release raft-sim --seeds 1 --from \(failure.seed) --nodes \(nodes)\(mutationFlag)"
            )
        }
        failovers.sort()
        func percentile(_ p: Double) -> Int {
            failovers.isEmpty ? 0 : failovers[min(failovers.count - 1, Int(Double(failovers.count) * p))]
        }
        print(
            "raft-sim: seeds=\(seeds) from=\(from) nodes=\(nodes) violations=\(violations) events=\(events) committed=\(committed) "
                + "log_restarts=\(logRestarts) failover_ms p50=\(percentile(0.5)) p99=\(percentile(0.99)) max=\(failovers.last ?? 0) samples=\(failovers.count)"
        )
        if violations > 0 { throw ExitCode(1) }
    }
}
