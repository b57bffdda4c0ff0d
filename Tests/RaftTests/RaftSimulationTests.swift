import Raft
import RaftSim
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Seeds from `RAFT_SIM_SEEDS` (`1...5000` or `0..<300`), else the default range.
enum SimSeeds {
    static func fromEnvironment(default range: Range<UInt64>) -> [UInt64] {
        guard let text = getenv("RAFT_SIM_SEEDS").map({ String(cString: $0) }) else { return Array(range) }
        for separator in ["..<", "..."] {
            let parts = text.split(separator: separator, maxSplits: 1).map(String.init)
            if parts.count == 2, let low = UInt64(parts[0]), let high = UInt64(parts[1]) {
                return Array(separator == "..<" ? low..<high : low..<(high + 1))
            }
        }
        return Array(range)
    }
}

struct RaftSimulationTests {
    static func check(seed: UInt64, nodes: Int) {
        var simulation = RaftSimulation(seed: seed, options: SimulationOptions(nodes: nodes))
        let result = simulation.run()
        #expect(
            result.violation == nil,
            "seed \(seed), \(nodes) nodes: \(result.violation ?? "")\nreplay: swift run raft-sim --seeds 1 --from \(seed) --nodes \(nodes)\n\(result.trace.suffix(60).joined(separator: "\n"))"
        )
        #expect(
            result.failoverMillis.map { $0 < 2_000 } ?? false,
            "seed \(seed): failover \(result.failoverMillis ?? -1) ms")
    }

    @Test(arguments: SimSeeds.fromEnvironment(default: 0..<150))
    func threeNodeGroupsStaySafeAndConverge(seed: UInt64) {
        Self.check(seed: seed, nodes: 3)
    }

    @Test(arguments: SimSeeds.fromEnvironment(default: 1000..<1150))
    func fiveNodeGroupsStaySafeAndConverge(seed: UInt64) {
        Self.check(seed: seed, nodes: 5)
    }

    /// Retention runs during the faults; followers it left behind restart their logs at the
    /// leader's boundary, and every run stays safe and converges.
    @Test func retentionRestartsLaggingFollowersSafely() {
        var restarts = 0
        for seed in UInt64(9000)..<9060 {
            var simulation = RaftSimulation(seed: seed, options: SimulationOptions(nodes: 3))
            let result = simulation.run()
            #expect(result.violation == nil, "seed \(seed): \(result.violation ?? "")")
            restarts += result.logRestarts
        }
        #expect(restarts > 0, "no follower ever restarted its log: retention is not exercised")
    }

    /// Leader crash to next leader, over 200 three-node runs: p99 under one second.
    @Test func failoverP99IsUnderOneSecond() {
        var samples: [Int] = []
        for seed in UInt64(5000)..<5200 {
            var simulation = RaftSimulation(seed: seed, options: SimulationOptions(nodes: 3))
            if let failover = simulation.run().failoverMillis { samples.append(failover) }
        }
        samples.sort()
        #expect(samples.count == 200)
        let p99 = samples[Int(Double(samples.count) * 0.99)]
        #expect(p99 < 1_000, "p99 \(p99) ms")
    }

    /// Followers told that the dead leader's connection closed elect a new one sooner than the
    /// election timeout alone allows, with the same safety checks on every step.
    @Test func connectionLossSignalsShortenFailover() {
        func medianFailover(signals: Bool) -> Int {
            var samples: [Int] = []
            for seed in UInt64(7000)..<7060 {
                var options = SimulationOptions(nodes: 3)
                options.connectionLossSignals = signals
                var simulation = RaftSimulation(seed: seed, options: options)
                let result = simulation.run()
                #expect(result.violation == nil, "seed \(seed): \(result.violation ?? "")")
                if let failover = result.failoverMillis { samples.append(failover) }
            }
            samples.sort()
            return samples.isEmpty ? Int.max : samples[samples.count / 2]
        }
        let withSignals = medianFailover(signals: true)
        let timeoutOnly = medianFailover(signals: false)
        #expect(
            withSignals * 2 < timeoutOnly, "median failover \(withSignals) ms with signals, \(timeoutOnly) ms without")
    }

    @Test func sameSeedSameRun() {
        var first = RaftSimulation(seed: 77, options: SimulationOptions(nodes: 3))
        var second = RaftSimulation(seed: 77, options: SimulationOptions(nodes: 3))
        let (a, b) = (first.run(), second.run())
        #expect(
            a.events == b.events && a.committedEntries == b.committedEntries && a.failoverMillis == b.failoverMillis)
    }

    /// Mutation check: the simulator must fail these deliberately broken cores.
    @Test(arguments: [RaftMutation.voteWithoutLogFreshnessCheck, .skipLeaderNoop])
    func simulatorCatchesBrokenCores(mutation: RaftMutation) {
        let caught = (0..<UInt64(60)).contains { seed in
            var simulation = RaftSimulation(seed: seed, options: SimulationOptions(nodes: 3, mutation: mutation))
            return simulation.run().violation != nil
        }
        #expect(caught, "\(mutation) passed 60 seeds undetected")
    }
}
