import Storage

/// What became of an appended entry. A leader that loses leadership while a put waits cannot
/// say: the entry may be committed by the next leader, or replaced by its entries. Answering
/// "not stored" then would make the client (or the broker's forward to the new master) store the
/// message a second time. So the wait goes on here, as a follower, until the entry's index is
/// committed, and the term at that index decides. A former leader that hears from no leader
/// (cut off from its peers) cannot learn that before the cut heals: after
/// `leaderlessGraceMillis` it answers "unknown" rather than at the deadline, so the client
/// retries on the new master sooner.
extension DLedgerServer: ReplicatedLog {
    public func awaitCommit(of entry: ReplicatedEntry, timeout: Duration) async -> ReplicationOutcome {
        let deadline = ContinuousClock.now + timeout
        var steppedDown: String?
        var leaderlessSince: ContinuousClock.Instant?
        while true {
            let now = ContinuousClock.now
            guard deadline > now else { return .unknown(Self.undecided(entry, steppedDown)) }
            // Entries lie back to back: the committed end passes the entry's first byte exactly
            // when its index is committed, whichever entry that turns out to be.
            let slice = steppedDown == nil ? deadline - now : min(deadline - now, Self.leaderlessCheck)
            switch await committed.wait(for: entry.position + 1, timeout: slice) {
            case .reached: return occupant(of: entry)
            case .full: return .unknown("too many writes waiting for the quorum")
            case .failed(let reason):
                guard driver.withLock({ $0 != nil }) else { return .unknown(reason) }
                steppedDown = reason  // keep waiting: the next leader decides
            case .timedOut:
                guard let steppedDown else { return .unknown(Self.undecided(entry, nil)) }
                if state.leaderId != nil {
                    leaderlessSince = nil
                } else if let since = leaderlessSince, ContinuousClock.now - since >= leaderlessGrace {
                    return .unknown(
                        "entry \(entry.index) (term \(entry.term)) was not committed; \(steppedDown), and no leader has been heard of since"
                    )
                } else if leaderlessSince == nil {
                    leaderlessSince = .now
                }
            }
        }
    }

    /// How often a former leader's wait looks whether it hears from a leader.
    static let leaderlessCheck = Duration.milliseconds(50)
    var leaderlessGrace: Duration { .milliseconds(config.leaderlessGraceMillis) }

    public var acceptsMoreWaiters: Bool { committed.waiterCount < committed.maxWaiters }

    static func undecided(_ entry: ReplicatedEntry, _ steppedDown: String?) -> String {
        let what = "entry \(entry.index) (term \(entry.term)) was not committed in time"
        guard let steppedDown else { return what }
        return "\(what); \(steppedDown) since it was written"
    }

    /// Whose entry the committed index holds: ours (same term) or a later leader's.
    func occupant(of entry: ReplicatedEntry) -> ReplicationOutcome {
        driver.withLock { driver in
            guard let driver else { return .unknown("the DLedger member stopped") }
            // Still leading in the entry's term: a leader never overwrites its own entries.
            if driver.core.isLeader, Int64(exactly: driver.core.term.value) == entry.term { return .committed }
            do {
                guard let unit = try driver.storage.log.indexUnit(at: entry.index) else {
                    return .unknown("entry \(entry.index) is no longer in this member's log")
                }
                if unit.term == entry.term { return .committed }
                return .lost(
                    "entry \(entry.index) of term \(entry.term) was replaced by the term \(unit.term) leader's; the message was not stored"
                )
            } catch {
                return .unknown("reading entry \(entry.index) failed: \(error)")
            }
        }
    }
}
