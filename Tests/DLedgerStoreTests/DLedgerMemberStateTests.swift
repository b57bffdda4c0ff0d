import DLedgerStore
import Testing

struct DLedgerMemberStateTests {
    static func state(_ role: DLedgerMemberState.Role, _ term: UInt64, _ leader: String?, ready: Bool = false)
        -> DLedgerMemberState
    {
        DLedgerMemberState(role: role, term: term, leaderId: leader, leaderReady: ready)
    }

    /// Found by the chaos runner: a follower whose disk was full logged its state 20 times a
    /// second ("FOLLOWER term 32" / "FOLLOWER term 32 leader n1"), because every failed write
    /// restarts its core, which forgets the leader until the next heartbeat.
    @Test func losingAndFindingTheSameLeaderInATermIsNotNotable() {
        let following = Self.state(.follower, 32, "n1")
        #expect(!Self.state(.follower, 32, nil).isNotable(after: following))
        #expect(!following.isNotable(after: following))
    }

    @Test func newRolesTermsLeadersAndReadinessAreNotable() {
        let following = Self.state(.follower, 32, "n1")
        #expect(following.isNotable(after: nil))
        #expect(Self.state(.follower, 33, nil).isNotable(after: following))
        #expect(Self.state(.candidate, 32, nil).isNotable(after: following))
        #expect(Self.state(.follower, 32, "n2").isNotable(after: following))
        #expect(Self.state(.follower, 33, "n0").isNotable(after: Self.state(.follower, 33, nil)))
        #expect(Self.state(.leader, 33, "n0", ready: true).isNotable(after: Self.state(.leader, 33, "n0")))
    }
}
