extension RaftCore {
    mutating func propose(kind: EntryKind, payload: [UInt8], into ready: inout Ready) -> ProposalOutcome {
        guard role == .leader else { return .notLeader(leaderHint: leader) }
        guard leadTransferee == nil else { return .leadershipTransferInProgress }
        let entry = LogEntry(index: log.lastIndex + 1, term: term, kind: kind, payload: payload)
        appendToLog(entry)
        sendToIdlePeers(into: &ready)
        return .accepted(index: entry.index, term: term)
    }

    /// New entries or a new commit index go at once only to followers with no append in flight.
    /// The others get them with the batch their next ack releases (`stepLeader`): under load one
    /// message carries every entry proposed meanwhile, and a follower writes (and syncs) once
    /// per batch instead of once per entry.
    mutating func sendToIdlePeers(into ready: inout Ready) {
        for peer in voters.sorted() where peer != id && progress[peer]?.isIdle == true {
            sendAppend(to: peer, sendIfEmpty: false, into: &ready)
        }
    }

    mutating func broadcastAppend(into ready: inout Ready) {
        for peer in voters.sorted() where peer != id {
            sendAppend(to: peer, sendIfEmpty: true, into: &ready)
        }
    }

    /// Sends the next batch to `peer` unless its pipeline is full (or, probing, one is in flight).
    /// Returns whether something was sent.
    @discardableResult
    mutating func sendAppend(to peer: NodeID, sendIfEmpty: Bool, into ready: inout Ready) -> Bool {
        guard var peerProgress = progress[peer], !peerProgress.isPaused(maxInflight: config.maxInflightAppends) else {
            return false
        }
        let prevIndex = peerProgress.next - 1
        precondition(prevIndex <= log.lastIndex, "\(peer) next \(peerProgress.next) beyond last \(log.lastIndex)")
        guard let prevTerm = log.term(at: prevIndex) else {
            // Retention dropped what the follower lacks: it restarts its log at our boundary.
            let boundary = log.firstIndex - 1
            send(
                .restartLog(after: boundary, term: log.term(at: boundary) ?? .zero, leaderCommit: commitIndex),
                to: peer, into: &ready)
            peerProgress.becomeProbe()
            peerProgress.next = boundary + 1
            peerProgress.probeSent = true
            progress[peer] = peerProgress
            return true
        }
        let entries = log.slice(
            from: peerProgress.next, maxCount: config.maxEntriesPerAppend, maxBytes: config.maxBytesPerAppend)
        // An empty append still goes when it carries news: a commit index the peer was not sent.
        if entries.isEmpty && !sendIfEmpty && peerProgress.sentCommit >= commitIndex { return false }
        peerProgress.sentCommit = max(peerProgress.sentCommit, commitIndex)
        send(
            .append(prevLogIndex: prevIndex, prevLogTerm: prevTerm, entries: entries, leaderCommit: commitIndex),
            to: peer, into: &ready)
        switch peerProgress.state {
        case .probe:
            peerProgress.probeSent = true
        case .replicate:
            if let last = entries.last {
                peerProgress.next = last.index + 1
                peerProgress.inflight.append(last.index)
            }
        }
        progress[peer] = peerProgress
        return true
    }

    /// Follower side of AppendEntries (§5.3).
    mutating func handleAppend(
        from leaderId: NodeID, prevIndex: LogIndex, prevTerm: Term, entries: [LogEntry], leaderCommit: LogIndex,
        into ready: inout Ready
    ) {
        if prevIndex < commitIndex {
            // Everything through our commit index already matches the leader.
            send(
                .appendResponse(success: true, index: commitIndex, hintIndex: 0, hintTerm: .zero), to: leaderId,
                into: &ready, afterPersist: true)
            return
        }
        guard log.matches(index: prevIndex, term: prevTerm) else {
            let hintIndex = log.lastIndex(atOrBelow: min(prevIndex, log.lastIndex), withTermAtMost: prevTerm)
            send(
                .appendResponse(
                    success: false, index: prevIndex, hintIndex: hintIndex, hintTerm: log.term(at: hintIndex) ?? .zero),
                to: leaderId, into: &ready)
            return
        }
        for entry in entries {
            if let existing = log.term(at: entry.index) {
                if existing == entry.term { continue }
                truncateLog(from: entry.index)  // conflict: the leader's log wins (§5.3)
            }
            appendToLog(entry)
        }
        let lastNew = prevIndex + LogIndex(entries.count)
        let newCommit = min(leaderCommit, lastNew)
        if newCommit > commitIndex { commitIndex = newCommit }
        send(
            .appendResponse(success: true, index: lastNew, hintIndex: 0, hintTerm: .zero), to: leaderId,
            into: &ready, afterPersist: true)
    }

    /// Follower side of `restartLog`: a log that already holds the boundary just acknowledges
    /// it; one that does not is dropped and continues after it.
    mutating func handleRestartLog(
        from leaderId: NodeID, boundary: LogBoundary, leaderCommit: LogIndex, into ready: inout Ready
    ) {
        if boundary.index <= commitIndex || log.matches(index: boundary.index, term: boundary.term) {
            handleAppend(
                from: leaderId, prevIndex: boundary.index, prevTerm: boundary.term, entries: [],
                leaderCommit: leaderCommit, into: &ready)
            return
        }
        guard boundary.index <= leaderCommit else { return }  // leaders drop only committed entries
        log.reset(after: boundary)
        dirtyFrom = nil
        ready.restartLog = boundary
        commitIndex = boundary.index
        stableIndex = boundary.index
        appliedIndex = boundary.index
        voters = votersFromLog()
        send(
            .appendResponse(success: true, index: boundary.index, hintIndex: 0, hintTerm: .zero), to: leaderId,
            into: &ready, afterPersist: true)
    }

    mutating func stepLeader(_ envelope: Envelope, into ready: inout Ready) {
        let peer = envelope.from
        guard progress[peer] != nil else { return }
        progress[peer]!.recentActive = true
        switch envelope.message {
        case .appendResponse(true, let index, _, _):
            let wasProbe = progress[peer]!.state == .probe
            guard progress[peer]!.acknowledge(index) || wasProbe else { return }
            if wasProbe { progress[peer]!.becomeReplicate() }
            if maybeCommit() {
                sendToIdlePeers(into: &ready)
            }
            while sendAppend(to: peer, sendIfEmpty: false, into: &ready) {}
            if peer == leadTransferee, progress[peer]!.match == log.lastIndex {
                send(.timeoutNow, to: peer, into: &ready)
            }
        case .appendResponse(false, let rejected, let hintIndex, let hintTerm):
            var probeHint = hintIndex
            if hintTerm > .zero { probeHint = log.lastIndex(atOrBelow: hintIndex, withTermAtMost: hintTerm) }
            if progress[peer]!.decreaseTo(rejected: rejected, probeHint: probeHint) {
                sendAppend(to: peer, sendIfEmpty: true, into: &ready)
            }
        case .heartbeatResponse:
            progress[peer]!.probeSent = false
            // A full pipeline whose acks were lost would stall forever: free one slot (etcd does too).
            if progress[peer]!.state == .replicate, progress[peer]!.isPaused(maxInflight: config.maxInflightAppends) {
                progress[peer]!.inflight.removeFirst()
            }
            if progress[peer]!.match < log.lastIndex {
                sendAppend(to: peer, sendIfEmpty: true, into: &ready)
            }
        default:
            break
        }
    }

    /// Advances the commit index to the highest index stored on a quorum, if that entry is from
    /// the current term (§5.4.2 — counting replicas never commits older-term entries directly).
    mutating func maybeCommit() -> Bool {
        let matches = voters.map { $0 == id ? stableIndex : progress[$0]?.match ?? 0 }.sorted(by: >)
        guard !matches.isEmpty else { return false }
        let quorumIndex = matches[quorum - 1]
        guard quorumIndex > commitIndex else { return false }
        guard config.mutation == .commitOldTermEntriesByCounting || log.term(at: quorumIndex) == term else {
            return false
        }
        commitIndex = quorumIndex
        // A leader that removed itself leads until that change commits, then steps down (thesis §4.2.2).
        if !voters.contains(id), commitIndex >= pendingConfigIndex {
            becomeFollower(term: term, leader: nil)
        }
        return true
    }
}
