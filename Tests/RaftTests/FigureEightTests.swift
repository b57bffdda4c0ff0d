import RaftSim
import Testing

@testable import Raft

/// The Raft paper's Figure 8: a leader must not commit an older term's entry by counting
/// replicas. DLedger 0.3 did (and appended no no-op); this scripted history shows what that loses.
struct FigureEightTests {
    static let ids = (0..<5).map { NodeID(UInt64($0)) }

    /// S1 (n0) and S2 (n1) hold 2@t2; S5 (n4) holds a conflicting 2@t3; entry 1 is committed.
    static func cluster(mutation: RaftMutation?) -> InMemoryCluster {
        func core(_ id: Int, _ terms: [UInt64]) -> RaftCore {
            var config = RaftConfig(id: NodeID(UInt64(id)), voters: ids, seed: UInt64(id))
            config.mutation = mutation
            let log = RaftLog(
                entries: terms.enumerated().map { LogEntry(index: LogIndex($0.offset + 1), term: Term($0.element)) })
            return RaftCore(config: config, hardState: HardState(term: Term(3), commit: 1), log: log)
        }
        return InMemoryCluster(cores: [
            core(0, [1, 2]), core(1, [1, 2]), core(2, [1]), core(3, [1]), core(4, [1, 3]),
        ])
    }

    /// n0 wins term 4 without n4, replicates, then crashes; n4 campaigns. Returns what was
    /// committed before the crash and whether n4 became leader without it.
    static func run(mutation: RaftMutation?) -> (committed: [LogEntry], lostByNewLeader: Bool) {
        var cluster = cluster(mutation: mutation)
        cluster.isolated = [NodeID(4)]
        // n0 campaigns now (as a leadership transfer would make it) and wins term 4 without n4.
        cluster.step(0, .receive(Envelope(from: NodeID(1), to: NodeID(0), term: Term(3), message: .timeoutNow)))
        cluster.stabilize()
        let leader = cluster.core(0)
        let committed = Array(leader.log.entries.prefix(Int(leader.commitIndex)))
        // n0 crashes; n4 comes back and campaigns at once against n1, n2, n3.
        cluster.cores[NodeID(0)] = nil
        cluster.isolated = []
        cluster.pending = []
        cluster.step(4, .receive(Envelope(from: NodeID(1), to: NodeID(4), term: leader.term, message: .timeoutNow)))
        // Stop the moment n4 leads: its appends would make followers drop a committed entry, which
        // the core refuses with a precondition.
        cluster.stabilize { $0.core(4).isLeader }
        let newLeader = cluster.core(4)
        let lost = newLeader.isLeader && committed.contains { newLeader.log.entry(at: $0.index) != $0 }
        return (committed, lost)
    }

    @Test func countingOldTermReplicasLosesACommittedEntry() {
        let (committed, lost) = Self.run(mutation: .commitOldTermEntriesByCounting)
        #expect(!committed.isEmpty)
        #expect(committed.map(\.term) == [Term(1), Term(2)], "the broken leader committed 2@t2 by counting")
        #expect(lost, "n4 (last entry 2@t3) was elected without the committed 2@t2")
    }

    @Test func theCurrentTermRuleKeepsTheEntry() {
        let (committed, lost) = Self.run(mutation: nil)
        #expect(committed.last?.term == Term(4), "2@t2 committed only through the term-4 no-op")
        #expect(!lost)
    }
}
