extension RaftCore {
    /// Rules every role shares (terms, stale senders, the leader lease), then the role's own.
    mutating func receive(_ envelope: Envelope, into ready: inout Ready) {
        guard envelope.to == id else { return }
        if envelope.term > term {
            switch envelope.message {
            case .preVote, .vote(_, _, leadershipTransfer: false):
                // Leader lease (thesis §4.2.3): while we hear from a leader, ignore campaigns, so a
                // rejoining or partially partitioned node cannot depose a healthy leader. The lease is
                // one heartbeat shorter than the minimum election timeout: a peer whose timer fires
                // first after a leader crash must not be ignored by peers a tick behind it.
                if config.checkQuorum, leader != nil,
                    electionElapsed < config.electionTimeoutTicks - config.heartbeatTicks
                {
                    return
                }
            default: break
            }
            switch envelope.message {
            case .preVote:
                break  // a pre-vote carries a future term and changes nobody's term
            case .preVoteResponse(granted: true):
                break  // granted pre-votes carry the future term we will campaign in
            case .append, .restartLog, .heartbeat, .timeoutNow:
                becomeFollower(term: envelope.term, leader: envelope.from)
            default:
                becomeFollower(term: envelope.term, leader: nil)
            }
        } else if envelope.term < term {
            switch envelope.message {
            case .append, .restartLog, .heartbeat:
                // A deposed leader: our higher term in the answer makes it step down.
                send(.heartbeatResponse, to: envelope.from, into: &ready)
            case .preVote:
                send(.preVoteResponse(granted: false), to: envelope.from, into: &ready)
            default:
                break
            }
            return
        }

        switch envelope.message {
        case .preVote(let lastIndex, let lastTerm):
            handleVoteRequest(envelope, lastIndex: lastIndex, lastTerm: lastTerm, preVote: true, into: &ready)
        case .vote(let lastIndex, let lastTerm, _):
            handleVoteRequest(envelope, lastIndex: lastIndex, lastTerm: lastTerm, preVote: false, into: &ready)
        default:
            switch role {
            case .follower: stepFollower(envelope, into: &ready)
            case .preCandidate, .candidate: stepCandidate(envelope, into: &ready)
            case .leader: stepLeader(envelope, into: &ready)
            }
        }
    }

    /// §5.2, §5.4.1: one vote per term, only for a log at least as up to date as ours.
    mutating func handleVoteRequest(
        _ envelope: Envelope, lastIndex: LogIndex, lastTerm: Term, preVote: Bool, into ready: inout Ready
    ) {
        let canVote =
            votedFor == envelope.from || (votedFor == nil && leader == nil) || (preVote && envelope.term > term)
        let upToDate =
            config.mutation == .voteWithoutLogFreshnessCheck || log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
        let granted = canVote && upToDate
        if preVote {
            // A granted pre-vote answers in the candidate's future term; nothing of ours changes.
            let envelopeTerm = granted ? envelope.term : term
            ready.messages.append(
                Envelope(from: id, to: envelope.from, term: envelopeTerm, message: .preVoteResponse(granted: granted)))
            // Two pre-candidates at once would both pass and split the real vote, costing another
            // timeout. Liveness only: the higher id steps back for a peer whose log is as fresh.
            if granted, role == .preCandidate, envelope.from < id {
                becomeFollower(term: term, leader: nil)
            }
        } else if granted {
            votedFor = envelope.from
            electionElapsed = 0
            send(.voteResponse(granted: true), to: envelope.from, into: &ready, afterPersist: true)
        } else {
            send(.voteResponse(granted: false), to: envelope.from, into: &ready)
        }
    }

    mutating func stepFollower(_ envelope: Envelope, into ready: inout Ready) {
        switch envelope.message {
        case .append(let prevIndex, let prevTerm, let entries, let leaderCommit):
            electionElapsed = 0
            leader = envelope.from
            handleAppend(
                from: envelope.from, prevIndex: prevIndex, prevTerm: prevTerm, entries: entries,
                leaderCommit: leaderCommit, into: &ready)
        case .restartLog(let index, let boundaryTerm, let leaderCommit):
            electionElapsed = 0
            leader = envelope.from
            handleRestartLog(
                from: envelope.from, boundary: LogBoundary(index: index, term: boundaryTerm),
                leaderCommit: leaderCommit, into: &ready)
        case .heartbeat(let leaderCommit):
            electionElapsed = 0
            leader = envelope.from
            // The leader sends min(our match, its commit), so this prefix is ours and committed.
            if leaderCommit > commitIndex { commitIndex = min(leaderCommit, log.lastIndex) }
            send(.heartbeatResponse, to: envelope.from, into: &ready)
        case .timeoutNow:
            campaign(transfer: true, into: &ready)
        default:
            break
        }
    }

    mutating func stepCandidate(_ envelope: Envelope, into ready: inout Ready) {
        switch envelope.message {
        case .append, .restartLog, .heartbeat:
            // Someone won this term.
            becomeFollower(term: envelope.term, leader: envelope.from)
            stepFollower(envelope, into: &ready)
        case .preVoteResponse(let granted) where role == .preCandidate:
            tally(envelope.from, granted: granted, into: &ready)
        case .voteResponse(let granted) where role == .candidate:
            tally(envelope.from, granted: granted, into: &ready)
        default:
            break
        }
    }

    mutating func tally(_ voter: NodeID, granted: Bool, into ready: inout Ready) {
        guard voters.contains(voter) else { return }
        votes[voter] = granted
        let grants = votes.values.filter { $0 }.count
        let rejections = votes.values.filter { !$0 }.count
        if grants >= quorum {
            if role == .preCandidate {
                becomeCandidate(transfer: false, into: &ready)
            } else {
                becomeLeader(into: &ready)
            }
        } else if rejections >= quorum {
            becomeFollower(term: term, leader: nil)
        }
    }

    /// Fast failure detection: our leader's connection closed. We stop honouring its lease (so
    /// we grant a peer's pre-vote too) and campaign now. A leader that is in fact alive keeps the
    /// other voters' leases and wins back its followers with the next heartbeat.
    ///
    /// The survivors would all campaign at the same moment and split the vote, so they take
    /// turns: the lowest id campaigns at once, the next two ticks later, and so on (a turn is
    /// skipped when that member's log is behind: the others refuse its pre-vote).
    mutating func connectionLost(to peer: NodeID, into ready: inout Ready) {
        guard role == .follower, leader == peer, peer != id else { return }
        leader = nil
        let turn = voters.filter { $0 != peer }.sorted().firstIndex(of: id) ?? 0
        if turn == 0 {
            campaign(transfer: false, into: &ready)
        } else {
            electionElapsed = 0
            randomizedElectionTimeout = min(2 * turn, config.electionTimeoutTicks)
        }
    }

    /// Starts an election: a pre-vote round first unless this is a leadership transfer.
    mutating func campaign(transfer: Bool, into ready: inout Ready) {
        guard promotable else { return }
        if config.preVote && !transfer {
            becomePreCandidate(into: &ready)
        } else {
            becomeCandidate(transfer: transfer, into: &ready)
        }
    }

    mutating func becomePreCandidate(into ready: inout Ready) {
        role = .preCandidate
        leader = nil
        votes = [id: true]
        resetElectionTimer()
        for peer in voters.sorted() where peer != id {
            ready.messages.append(
                Envelope(
                    from: id, to: peer, term: term.next,
                    message: .preVote(lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm)))
        }
        if quorum == 1 { becomeCandidate(transfer: false, into: &ready) }
    }

    mutating func becomeCandidate(transfer: Bool, into ready: inout Ready) {
        role = .candidate
        term = term.next
        votedFor = id
        leader = nil
        votes = [id: true]
        resetElectionTimer()
        // Sent after our own vote for this term is durable.
        for peer in voters.sorted() where peer != id {
            send(
                .vote(lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm, leadershipTransfer: transfer),
                to: peer, into: &ready, afterPersist: true)
        }
        if quorum == 1 { becomeLeader(into: &ready) }
    }

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID?) {
        precondition(newTerm >= term)
        if newTerm > term {
            term = newTerm
            votedFor = nil
        }
        role = .follower
        leader = newLeader
        leadTransferee = nil
        progress = [:]
        votes = [:]
        heartbeatElapsed = 0
        resetElectionTimer()
    }

    mutating func becomeLeader(into ready: inout Ready) {
        precondition(role == .candidate || quorum == 1, "only a candidate wins")
        role = .leader
        leader = id
        leadTransferee = nil
        heartbeatElapsed = 0
        electionElapsed = 0
        progress = [:]
        for peer in voters.sorted() where peer != id {
            var peerProgress = Progress(next: log.lastIndex + 1)
            peerProgress.recentActive = true
            progress[peer] = peerProgress
        }
        // No membership change until this term's first entry commits (thesis §4.1 bug fix).
        pendingConfigIndex = log.lastIndex + 1
        if config.mutation != .skipLeaderNoop && config.mutation != .commitOldTermEntriesByCounting {
            // §5.4.2/§8: entries of earlier terms commit only through one of our own.
            appendToLog(LogEntry(index: log.lastIndex + 1, term: term, kind: .noop))
        }
        broadcastAppend(into: &ready)
    }
}
