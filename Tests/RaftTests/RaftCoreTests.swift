import RaftSim
import Testing

@testable import Raft

struct RaftCoreTests {
    @Test func singleNodeElectsItselfAndCommitsAfterPersisting() {
        var cluster = InMemoryCluster(size: 1)
        #expect(cluster.electSomeLeader() == NodeID(0))
        let ready = cluster.step(0, .propose([1, 2, 3]))
        #expect(ready.proposal == .accepted(index: 2, term: Term(1)))
        #expect(ready.entriesToApply.isEmpty, "nothing applies before the driver persisted it")
        cluster.stabilize()
        #expect(cluster.applied[NodeID(0)]?.map(\.payload).last == [1, 2, 3])
    }

    @Test func threeNodesElectOneLeaderAndReplicateInOrder() throws {
        var cluster = InMemoryCluster(size: 3)
        let elected = cluster.electSomeLeader()
        let leader = try #require(elected)
        for value in 1...50 { cluster.step(leader.value, .propose([UInt8(value)])) }
        cluster.stabilize()
        #expect(cluster.leaders == [leader])
        for id in cluster.cores.keys {
            let payloads = cluster.applied[id, default: []].filter { $0.kind == .normal }.map(\.payload)
            #expect(payloads == (1...50).map { [UInt8($0)] })
        }
    }

    /// Proposals made while each follower has an append in flight wait for its ack and then go
    /// in one append; the commit index reaches every follower even with nothing left to send.
    @Test func entriesProposedWhileAnAppendIsInFlightGoInOneBatch() throws {
        var cluster = InMemoryCluster(size: 3)
        let elected = cluster.electSomeLeader()
        let leader = try #require(elected)
        cluster.stabilize()
        func entryCounts(_ ready: Ready) -> [Int] {
            ready.messages.compactMap { envelope in
                guard case .append(_, _, let entries, _) = envelope.message, !entries.isEmpty else { return nil }
                return entries.count
            }
        }
        #expect(entryCounts(cluster.step(leader.value, .propose([0]))) == [1, 1])
        for value in 1...9 {
            #expect(entryCounts(cluster.step(leader.value, .propose([UInt8(value)]))).isEmpty)
        }
        var sent: [Int] = []
        while !cluster.pending.isEmpty {
            let (id, input) = cluster.pending.removeFirst()
            let ready = cluster.cores[id]!.step(input)
            if id == leader { sent += entryCounts(ready) }
            cluster.handle(ready, of: id)
        }
        #expect(sent == [9, 9])
        let last = cluster.core(leader.value).log.lastIndex
        for id in cluster.cores.keys { #expect(cluster.cores[id]!.commitIndex == last) }
    }

    /// Retention dropped what a lagging follower lacks: it restarts its log at the leader's
    /// boundary, catches up from there, and counts the dropped entries as applied.
    @Test func followerBehindTheLeadersRetentionRestartsItsLogAtTheBoundary() throws {
        var cluster = InMemoryCluster(size: 3)
        let elected = cluster.electSomeLeader()
        let leader = try #require(elected)
        let lagging = NodeID((leader.value + 1) % 3)
        cluster.isolated = [lagging]
        for value in 1...20 { cluster.step(leader.value, .propose([UInt8(value)])) }
        cluster.stabilize()
        let leaderLog = cluster.core(leader.value).log
        let boundary = leaderLog.lastIndex - 5
        try #require(cluster.core(leader.value).appliedIndex > boundary)
        (leaderLog.storage as! MemoryLogStorage).compact(through: boundary)
        #expect(cluster.core(leader.value).log.firstIndex == boundary + 1)

        cluster.isolated = []
        let caughtUp = cluster.tickUntil { $0.core(lagging.value).appliedIndex == $0.core(leader.value).commitIndex }
        #expect(caughtUp != nil)
        let follower = cluster.core(lagging.value)
        #expect(follower.log.firstIndex == boundary + 1)
        #expect(follower.log.entries == cluster.core(leader.value).log.entries)
        let applied = cluster.applied[lagging, default: []].filter { $0.index > 1 }
        #expect(applied.map(\.index) == Array(boundary + 1...follower.commitIndex))
    }

    /// A follower that lost entries it had acknowledged (unsynced, or cut at recovery as damaged)
    /// is believed when its rejections show a shorter log, and the leader sends them again.
    @Test func followerThatLostAcknowledgedEntriesIsCaughtUpAgain() throws {
        var cluster = InMemoryCluster(size: 3)
        let elected = cluster.electSomeLeader()
        let leader = try #require(elected)
        for value in 1...10 { cluster.step(leader.value, .propose([UInt8(value)])) }
        cluster.stabilize()
        let lossy = NodeID((leader.value + 1) % 3)
        let before = cluster.core(lossy.value)
        let storage = before.log.storage as! MemoryLogStorage
        let kept = Int(before.log.lastIndex) - 3
        storage.write(Array(storage.stored.prefix(kept)))  // the tail is gone after a restart
        cluster.cores[lossy] = RaftCore(
            config: before.raftConfig, hardState: HardState(term: before.term, commit: LogIndex(kept)),
            log: RaftLog(storage: storage), appliedIndex: LogIndex(kept))
        for value in 11...15 { cluster.step(leader.value, .propose([UInt8(value)])) }
        let caughtUp = cluster.tickUntil(maxRounds: 200) {
            $0.core(lossy.value).log.lastIndex == $0.core(leader.value).log.lastIndex
        }
        #expect(caughtUp != nil, "the follower never got its lost entries again")
        #expect(cluster.core(lossy.value).log.entries == cluster.core(leader.value).log.entries)
    }

    @Test func proposalsToAFollowerAreRefusedWithALeaderHint() throws {
        var cluster = InMemoryCluster(size: 3)
        let elected = cluster.electSomeLeader()
        let leader = try #require(elected)
        let follower = (leader.value + 1) % 3
        #expect(cluster.step(follower, .propose([9])).proposal == .notLeader(leaderHint: leader))
    }

    @Test func grantedVotesLeaveOnlyAfterPersistence() {
        var core = RaftCore(config: RaftConfig(id: NodeID(1), voters: [NodeID(0), NodeID(1), NodeID(2)]))
        let request = Envelope(
            from: NodeID(0), to: NodeID(1), term: Term(1),
            message: .vote(lastLogIndex: 0, lastLogTerm: .zero, leadershipTransfer: false))
        let ready = core.step(.receive(request))
        #expect(ready.messages.isEmpty)
        #expect(ready.messagesAfterPersist.map(\.message) == [.voteResponse(granted: true)])
        #expect(ready.hardState == HardState(term: Term(1), votedFor: NodeID(0), commit: 0))
        // One vote per term.
        let rival = Envelope(
            from: NodeID(2), to: NodeID(1), term: Term(1),
            message: .vote(lastLogIndex: 5, lastLogTerm: Term(1), leadershipTransfer: false))
        #expect(core.step(.receive(rival)).messages.map(\.message) == [.voteResponse(granted: false)])
    }

    @Test func votesAreDeniedToCandidatesWithStaleLogs() {
        let log = RaftLog(entries: [LogEntry(index: 1, term: Term(2))])
        var core = RaftCore(
            config: RaftConfig(id: NodeID(1), voters: [NodeID(0), NodeID(1), NodeID(2)]),
            hardState: HardState(term: Term(2)), log: log)
        let stale = Envelope(
            from: NodeID(0), to: NodeID(1), term: Term(3),
            message: .vote(lastLogIndex: 9, lastLogTerm: Term(1), leadershipTransfer: false))
        let ready = core.step(.receive(stale))
        #expect(ready.messages.map(\.message) == [.voteResponse(granted: false)])
        #expect(core.term == Term(3) && core.votedFor == nil)
    }

    @Test func staleLeaderLearnsTheNewTermFromAFollower() {
        var core = RaftCore(
            config: RaftConfig(id: NodeID(1), voters: [NodeID(0), NodeID(1), NodeID(2)]),
            hardState: HardState(term: Term(5)))
        let append = Envelope(
            from: NodeID(0), to: NodeID(1), term: Term(3),
            message: .append(prevLogIndex: 0, prevLogTerm: .zero, entries: [], leaderCommit: 0))
        let ready = core.step(.receive(append))
        #expect(ready.messages.count == 1 && ready.messages[0].term == Term(5))
        #expect(core.term == Term(5) && core.leader == nil)
    }

    @Test func partitionedNodeDoesNotInflateTermsOrDisruptTheLeader() throws {
        var cluster = InMemoryCluster(size: 3)
        let elected = cluster.electSomeLeader()
        let leader = try #require(elected)
        let loner = (leader.value + 1) % 3
        let term = cluster.core(leader.value).term
        cluster.isolated = [NodeID(loner)]
        for _ in 0..<200 {
            cluster.step(loner, .tick)
            cluster.stabilize()
        }
        #expect(cluster.core(loner).term == term, "pre-vote keeps the partitioned node's term")
        cluster.isolated = []
        cluster.tickUntil(maxRounds: 40) { _ in false }
        #expect(cluster.leaders == [leader] && cluster.core(leader.value).term == term)
    }

    @Test func leaderWithoutQuorumStepsDown() throws {
        var cluster = InMemoryCluster(size: 3)
        let elected = cluster.electSomeLeader()
        let leader = try #require(elected)
        cluster.isolated = [leader]
        let rounds = cluster.tickUntil(maxRounds: 100) { !$0.core(leader.value).isLeader }
        #expect(rounds != nil && rounds! <= 2 * 16 + 1, "steps down within two election timeouts")
    }

    @Test func leadershipTransferHandsOverToTheTransferee() throws {
        var cluster = InMemoryCluster(size: 3)
        let elected = cluster.electSomeLeader()
        let leader = try #require(elected)
        let transferee = (leader.value + 2) % 3
        for value in 1...5 { cluster.step(leader.value, .propose([UInt8(value)])) }
        cluster.step(leader.value, .transferLeadership(to: NodeID(transferee)))
        cluster.stabilize()
        #expect(cluster.leaders == [NodeID(transferee)])
        #expect(cluster.core(transferee).log.entries.filter { $0.kind == .normal }.count == 5)
    }

    @Test func membershipChangesOneVoterAtATime() throws {
        var cluster = InMemoryCluster(size: 3)
        let elected = cluster.electSomeLeader()
        let leader = try #require(elected)
        cluster.stabilize()
        let removed = (leader.value + 1) % 3
        #expect(cluster.step(leader.value, .changeMembership(.removeVoter(NodeID(removed)))).proposal != nil)
        #expect(
            cluster.step(leader.value, .changeMembership(.addVoter(NodeID(7)))).proposal == .membershipChangePending,
            "a second change waits for the first to commit")
        cluster.stabilize()
        #expect(
            cluster.core(leader.value).voters == Set([0, 1, 2].filter { $0 != removed }.map { NodeID(UInt64($0)) }))
        // Two voters left: commits need both.
        cluster.isolated = [NodeID(removed)]
        cluster.step(leader.value, .propose([42]))
        cluster.stabilize()
        #expect(cluster.applied[leader, default: []].last?.payload == [42])
    }

    @Test func followerBacksOffOverAWholeConflictingTerm() {
        // The follower holds 10 entries of an old term; the leader's log diverged after index 2.
        let follower = RaftLog(
            entries: (1...10).map { LogEntry(index: LogIndex($0), term: $0 <= 2 ? Term(1) : Term(2)) })
        let leaderLog = RaftLog(
            entries: (1...12).map { LogEntry(index: LogIndex($0), term: $0 <= 2 ? Term(1) : Term(3)) })
        var cluster = InMemoryCluster(cores: [
            RaftCore(
                config: RaftConfig(id: NodeID(0), voters: [NodeID(0), NodeID(1)]), hardState: HardState(term: Term(3)),
                log: leaderLog),
            RaftCore(
                config: RaftConfig(id: NodeID(1), voters: [NodeID(0), NodeID(1)]), hardState: HardState(term: Term(3)),
                log: follower),
        ])
        cluster.tickUntil { $0.core(0).isLeader }
        cluster.stabilize()
        #expect(cluster.core(1).log.lastIndex == cluster.core(0).log.lastIndex)
        #expect(cluster.core(1).log.entries.map(\.term) == cluster.core(0).log.entries.map(\.term))
    }
}
