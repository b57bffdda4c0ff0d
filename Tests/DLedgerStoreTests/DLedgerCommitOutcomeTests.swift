import DLedgerStore
import Storage
import TestSupport
import Testing

/// What `awaitCommit` answers a put: committed, lost (another entry holds its index) or unknown.
@Suite(.serialized) struct DLedgerCommitOutcomeTests {
    /// The leader writes an entry no follower has, loses leadership (check-quorum) while the put
    /// waits, and is elected again with one follower back: its successor term commits the entry.
    /// Answering "not stored" at the step-down made the broker forward the put to the next master,
    /// which stored the message twice. (A long leaderless grace stands for a group that elects
    /// its next leader slowly.)
    @Test func anEntryCommittedAfterItsLeaderSteppedDownIsCommitted() async throws {
        let group = try await LocalGroup(leaderlessGraceMillis: 20_000)
        #expect(try await eventually { group.leader != nil })
        let leader = try #require(group.leader)
        let leaderId = try #require(group.servers.firstIndex { $0 === leader })
        _ = try await DLedgerGroupTests.appendAll(leader, count: 5, tag: 1)
        let followers = group.servers.indices.filter { $0 != leaderId }
        for id in followers { await group.stop(id) }
        let entry = try leader.append(bodySize: 100) { _ in [UInt8](repeating: 9, count: 100) }
        let outcome = Task { await leader.awaitCommit(of: entry, timeout: .seconds(20)) }
        #expect(try await eventually { leader.state.role != .leader }, "the leader kept leading without a quorum")
        // One follower returns; its log is behind, so only the old leader can win the election.
        group.servers[followers[0]] = try await group.start(followers[0])
        #expect(await outcome.value == .committed)
        #expect(leader.state.term > UInt64(entry.term))
        await group.shutdown()
    }

    /// An index committed with another term's entry: the put's entry is gone everywhere.
    @Test func anIndexCommittedWithAnotherTermsEntryIsLost() async throws {
        let group = try await LocalGroup()
        #expect(try await eventually { group.leader != nil })
        let leader = try #require(group.leader)
        let written = try leader.append(bodySize: 10) { _ in [UInt8](repeating: 1, count: 10) }
        #expect(await leader.awaitCommit(of: written, timeout: .seconds(10)) == .committed)
        var other = written
        other.term += 1
        guard case .lost(let reason) = await leader.awaitCommit(of: other, timeout: .seconds(10)) else {
            Issue.record("an entry of another term counted as committed")
            await group.shutdown()
            return
        }
        #expect(reason.contains("entry \(written.index) of term \(other.term) was replaced"))
        await group.shutdown()
    }

    /// The reason of an "unknown" outcome for an entry of a leader whose followers are all
    /// stopped; nil (recorded as an issue) when the outcome was anything else.
    static func unknownWithoutFollowers(timeout: Duration) async throws -> (String, Duration)? {
        let group = try await LocalGroup()
        #expect(try await eventually { group.leader != nil })
        let leader = try #require(group.leader)
        for id in group.servers.indices where group.servers[id] !== leader { await group.stop(id) }
        let entry = try leader.append(bodySize: 10) { _ in [UInt8](repeating: 3, count: 10) }
        let began = ContinuousClock.now
        let outcome = await leader.awaitCommit(of: entry, timeout: timeout)
        let took = ContinuousClock.now - began
        await group.shutdown()
        guard case .unknown(let reason) = outcome else {
            Issue.record("an entry without a quorum was decided: \(outcome)")
            return nil
        }
        return (reason, took)
    }

    /// A former leader that hears from no leader answers "unknown" after its grace, not at the
    /// deadline: cut off from its peers, it cannot learn the entry's fate before the cut heals.
    @Test func aFormerLeaderThatHearsFromNoLeaderAnswersUnknownAfterItsGrace() async throws {
        guard let (reason, took) = try await Self.unknownWithoutFollowers(timeout: .seconds(20)) else { return }
        #expect(reason.contains("no leader has been heard of"), "\(reason)")
        #expect(took < .seconds(10), "answered only at the deadline")
    }

    /// No quorum before the deadline: the outcome is unknown (the entry may still commit).
    @Test func noQuorumByTheDeadlineIsUnknown() async throws {
        guard let (reason, _) = try await Self.unknownWithoutFollowers(timeout: .milliseconds(300)) else { return }
        #expect(reason.contains("was not committed in time"), "\(reason)")
    }
}
