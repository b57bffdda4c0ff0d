import ArgumentParser
import Dispatch
import Raft
import RaftSim

/// Entries committed per second through an in-memory group driven by the core alone (no I/O):
/// shows the consensus core is not the bottleneck.
@main
struct RaftBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft-bench", abstract: "Commits entries through an in-memory Raft group and prints entries/s.")

    @Option(help: "Entries to commit.")
    var entries: Int = 200_000

    @Option(help: "Payload bytes per entry.")
    var size: Int = 128

    @Option(help: "Proposals per delivery round (client-side batching).")
    var batch: Int = 64

    @Option(help: "Group size.")
    var nodes: Int = 3

    func run() throws {
        var cluster = InMemoryCluster(size: nodes)
        cluster.recordApplied = false
        guard let leader = cluster.electSomeLeader() else { throw ValidationError("no leader elected") }
        cluster.stabilize()
        let payload = [UInt8](repeating: 7, count: size)
        let base = cluster.appliedCount[leader, default: 0]
        let start = DispatchTime.now().uptimeNanoseconds
        var proposed = 0
        while proposed < entries {
            for _ in 0..<min(batch, entries - proposed) {
                cluster.step(leader.value, .propose(payload))
                proposed += 1
            }
            cluster.stabilize()
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let committed = cluster.appliedCount[leader, default: 0] - base
        let slowest = cluster.cores.keys.map { cluster.appliedCount[$0, default: 0] }.min() ?? 0
        print(
            "raft-bench: nodes=\(nodes) entries=\(committed) size=\(size) batch=\(batch) seconds=\((seconds * 100).rounded() / 100) "
                + "entries_per_s=\(Int(Double(committed) / seconds)) applied_everywhere=\(slowest - base >= entries)")
    }
}
