extension RaftCore {
    /// Hands leadership to `transferee` (thesis §3.10): stop taking proposals, bring it up to
    /// date, then tell it to campaign at once.
    mutating func transferLeadership(to transferee: NodeID, into ready: inout Ready) {
        guard role == .leader, transferee != id, voters.contains(transferee), let peerProgress = progress[transferee]
        else { return }
        leadTransferee = transferee
        electionElapsed = 0
        if peerProgress.match == log.lastIndex {
            send(.timeoutNow, to: transferee, into: &ready)
        } else {
            sendAppend(to: transferee, sendIfEmpty: true, into: &ready)
        }
    }

    /// Single-server membership change (thesis §4.1): one voter added or removed per committed
    /// configuration entry; the new set applies as soon as the entry is in the log.
    mutating func changeMembership(_ change: MembershipChange, into ready: inout Ready) -> ProposalOutcome {
        guard role == .leader else { return .notLeader(leaderHint: leader) }
        guard pendingConfigIndex <= commitIndex else { return .membershipChangePending }
        var next = voters
        switch change {
        case .addVoter(let node): next.insert(node)
        case .removeVoter(let node): next.remove(node)
        }
        guard next != voters, !next.isEmpty else { return .accepted(index: log.lastIndex, term: term) }
        let outcome = propose(kind: .configuration, payload: Self.encodeVoters(next), into: &ready)
        if case .accepted(let index, _) = outcome { pendingConfigIndex = index }
        return outcome
    }

    mutating func applyConfiguration(_ newVoters: Set<NodeID>) {
        voters = newVoters
        guard role == .leader else { return }
        for peer in newVoters where peer != id && progress[peer] == nil {
            var peerProgress = Progress(next: log.lastIndex + 1)
            peerProgress.recentActive = true
            progress[peer] = peerProgress
        }
        for peer in progress.keys where !newVoters.contains(peer) { progress[peer] = nil }
    }

    func votersFromLog() -> Set<NodeID> {
        guard let last = log.lastConfiguration() else { return Set(config.voters) }
        return Self.decodeVoters(last.payload)
    }

    /// Voter ids as 8-byte big-endian integers.
    static func encodeVoters(_ voters: Set<NodeID>) -> [UInt8] {
        voters.sorted().flatMap { voter in (0..<8).reversed().map { UInt8(truncatingIfNeeded: voter.value >> ($0 * 8)) }
        }
    }

    static func decodeVoters(_ payload: [UInt8]) -> Set<NodeID> {
        precondition(payload.count % 8 == 0, "configuration payload of \(payload.count) bytes")
        return Set(
            stride(from: 0, to: payload.count, by: 8).map { start in
                NodeID(payload[start..<start + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            })
    }
}
