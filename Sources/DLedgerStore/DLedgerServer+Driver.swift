import Common
import Logging
import NIOCore
import Raft
import Remoting
import Storage

extension DLedgerServer {
    /// What a step leaves to do once the driver's lock is released.
    struct Effects {
        var committedEnd: Int64?
        var state: DLedgerMemberState?
        var flushWanted = false
    }

    /// Steps the core with `input` and carries out the result; `follow` may add one more input
    /// computed under the same lock.
    func step(
        _ input: RaftInput, positionCheck frame: DLedgerWire.Frame? = nil,
        follow: ((inout Driver) -> RaftInput?)? = nil
    ) {
        var outbox: [(NodeID, RemotingCommand)] = []
        var effects = Effects()
        driver.withLock { driver in
            guard driver != nil else { return }
            if let frame, let problem = positionProblem(frame, driver!) {
                logger.error("DLedger: refusing entries from n\(frame.envelope.from.value): \(problem)")
                return
            }
            if let frame, case .restartLog = frame.envelope.message, !frame.boundary.isEmpty {
                var bytes = ByteBuffer(bytes: frame.boundary)
                do {
                    driver!.restartBoundary = try DLedgerEntry.parse(
                        from: &bytes, maxSize: driver!.storage.log.maxEntrySize)
                } catch {
                    logger.error("DLedger: the boundary entry from n\(frame.envelope.from.value) is unusable: \(error)")
                    return
                }
            }
            carryOut(driver!.core.step(input), driver: &driver!, outbox: &outbox, effects: &effects)
            if let follow, let next = follow(&driver!) {
                carryOut(driver!.core.step(next), driver: &driver!, outbox: &outbox, effects: &effects)
            }
        }
        finish(outbox: outbox, effects: effects)
    }

    /// Every replica stores each entry at the same byte position: an append whose entries would
    /// land elsewhere here than on the leader means the data files differ. It is refused, never
    /// acknowledged, and this member stays a follower that cannot vote the leader's log away.
    func positionProblem(_ frame: DLedgerWire.Frame, _ driver: Driver) -> String? {
        guard case .append(let prevIndex, let prevTerm, let entries, _) = frame.envelope.message, !entries.isEmpty,
            frame.prevEnd >= 0, driver.core.log.matches(index: prevIndex, term: prevTerm),
            prevIndex <= driver.storage.lastIndex
        else { return nil }
        let local: Int64
        do {
            local = try Self.end(ofEntry: Int64(prevIndex) - 1, in: driver.storage.log)
        } catch {
            return "reading entry \(Int64(prevIndex) - 1) failed: \(error)"
        }
        guard local != frame.prevEnd else { return nil }
        return "after entry \(Int64(prevIndex) - 1) the leader's data ends at byte \(frame.prevEnd), ours at \(local)"
    }

    /// Carries out `ready` and whatever it leads to: persist, then queue the frames, then note
    /// the commit point; an inline persist (ASYNC_FLUSH, or acks that wait for SYNC_FLUSH) is
    /// reported back to the core at once.
    func carryOut(
        _ first: Ready, driver: inout Driver, outbox: inout [(NodeID, RemotingCommand)], effects: inout Effects
    ) {
        var ready = first
        while true {
            var durable: (LogIndex, Term)?
            do {
                if let hardState = ready.hardState { try persist(hardState, &driver) }
                if let restart = ready.restartLog {
                    guard let boundary = driver.restartBoundary, boundary.index == Int64(restart.index) - 1,
                        boundary.term == Int64(restart.term.value)
                    else {
                        throw DLedgerServerError.unsupported(
                            "restarting the log after entry \(Int64(restart.index) - 1) without the leader's copy of it"
                        )
                    }
                    try driver.storage.log.restart(with: boundary)
                    driver.restartBoundary = nil
                    logger.warning(
                        "DLedger: the leader no longer has the entries this log lacks; the log restarts at its first entry \(boundary.index) (byte \(boundary.pos))"
                    )
                    driver.committedEnd = boundary.pos + Int64(boundary.size)
                    effects.committedEnd = driver.committedEnd
                    if ready.entriesToAppend.isEmpty { durable = (restart.index, restart.term) }
                }
                if let last = ready.entriesToAppend.last {
                    try driver.storage.write(ready.entriesToAppend)
                    if !config.syncFlush {
                        durable = (last.index, last.term)
                    } else if !ready.messagesAfterPersist.isEmpty {
                        try driver.storage.log.flushData()
                        durable = (last.index, last.term)
                    } else {
                        effects.flushWanted = true
                    }
                    // The episode ends with an append that was written and, when acks wait
                    // for it, synced (a write that lands but cannot be synced is no success).
                    if driver.failing != nil, durable != nil || !config.syncFlush {
                        logger.warning("DLedger: writing the log succeeds again")
                        driver.failing = nil
                    }
                }
            } catch {
                recoverFromWriteFailure(error, &driver)
                break
            }
            for envelope in ready.messages + ready.messagesAfterPersist {
                outbox.append((envelope.to, encode(envelope, driver)))
            }
            if let applied = ready.appliedThrough {
                do {
                    driver.committedEnd = try Self.end(ofEntry: Int64(applied) - 1, in: driver.storage.log)
                    effects.committedEnd = driver.committedEnd
                } catch {
                    logger.error("DLedger: reading committed entry \(Int64(applied) - 1) failed: \(error)")
                }
            }
            if let failure = driver.storage.readFailure {
                logger.error("DLedger: reading the log failed: \(failure)")
                driver.storage.readFailure = nil
            }
            guard let (index, term) = durable else { break }
            ready = driver.core.step(.persisted(through: index, term: term))
        }
        publishedEnd.store(driver.storage.log.dataEnd, ordering: .releasing)
        let state = memberState(driver.core)
        if state != member.withLock({ $0 }) { effects.state = state }
    }

    /// A write failed (disk full, I/O error): the entries and promises of this step never
    /// happened. The core restarts from what is on disk, as after a crash, so it can neither ack
    /// nor count what it does not have; it rejoins as a follower and retries with the next append.
    func recoverFromWriteFailure(_ error: any Error, _ driver: inout Driver) {
        let reason = "\(error)"
        let firstOfEpisode = driver.failing == nil
        if firstOfEpisode {
            // Once per episode: the offsets in the reason change with every retry.
            logger.error("DLedger: writing the log failed: \(reason); this member continues as a follower")
        }
        driver.failing = reason
        do {
            try driver.storage.log.discardPartialAppend()
            if config.syncFlush { try cutUnsyncedTail(&driver, loud: firstOfEpisode) }
        } catch {
            logger.error("DLedger: cutting a partial append failed: \(error)")
        }
        let votedFor = driver.termFile.voteLeader.flatMap { config.peers.peer($0) }.map { NodeID($0.number) }
        publishedEnd.store(driver.storage.log.dataEnd, ordering: .releasing)
        driver.core = RaftCore(
            config: driver.raftConfig,
            hardState: HardState(
                term: Term(UInt64(driver.termFile.currTerm)), votedFor: votedFor, commit: driver.core.commitIndex),
            log: RaftLog(storage: driver.storage), appliedIndex: driver.core.appliedIndex)
    }

    /// SYNC_FLUSH, after a failed write or fsync: entries written but never synced are cut (down
    /// to what this member already applied, which the quorum had synced), so the restarted core
    /// can neither acknowledge nor count them; the leader sends them again. They were never
    /// acknowledged by this member: its acks and its own count wait for a successful fsync.
    func cutUnsyncedTail(_ driver: inout Driver, loud: Bool) throws {
        let log = driver.storage.log
        let appliedEnd = try Self.end(ofEntry: Int64(driver.core.appliedIndex) - 1, in: log)
        let keep = max(log.syncedEnd, appliedEnd)
        guard keep < log.dataEnd else { return }
        let cut = try driver.storage.log.cut(toEnd: keep)
        if cut > 0 {
            logger.log(
                level: loud ? .warning : .debug,
                "DLedger: \(cut) entries after byte \(keep) were written but not synced; cut, to be written again")
        }
    }

    /// SYNC_FLUSH: the group flush of a leader's own entries failed. Its unsynced entries are
    /// not counted and are cut, and the core restarts from disk as after any write failure
    /// (so a leader steps down): a later fsync that succeeds proves nothing about pages an
    /// earlier one failed to write.
    func syncFailed(_ error: any Error) {
        var effects = Effects()
        driver.withLock { driver in
            guard driver != nil else { return }
            recoverFromWriteFailure(error, &driver!)
            let state = memberState(driver!.core)
            if state != member.withLock({ $0 }) { effects.state = state }
        }
        finish(outbox: [], effects: effects)
    }

    /// The term file holds term and vote; the commit index goes to the checkpoint (advisory).
    func persist(_ hardState: HardState, _ driver: inout Driver) throws {
        let file = DLedgerTermFile(
            currTerm: Int64(hardState.term.value), voteLeader: hardState.votedFor.map { "n\($0.value)" })
        guard file != driver.termFile else { return }
        try file.write(to: config.termPath)
        driver.termFile = file
    }

    func writeCheckpoint(_ driver: inout Driver, force: Bool) throws {
        let checkpoint = DLedgerCheckpoint(
            endIndex: driver.storage.log.ledgerEndIndex, committedIndex: Int64(driver.core.appliedIndex) - 1)
        guard force || checkpoint != driver.checkpoint else { return }
        try checkpoint.write(to: config.checkpointPath)
        driver.checkpoint = checkpoint
    }

    func encode(_ envelope: Envelope, _ driver: Driver) -> RemotingCommand {
        var prevEnd: Int64 = -1
        if case .append(let prevIndex, _, let entries, _) = envelope.message, !entries.isEmpty {
            do {
                prevEnd = try Self.end(ofEntry: Int64(prevIndex) - 1, in: driver.storage.log)
            } catch {
                // The follower then skips its position check for this append; the read error is news.
                logger.error("DLedger: reading entry \(Int64(prevIndex) - 1) for an append failed: \(error)")
            }
        }
        var boundary: [UInt8] = []
        if case .restartLog(let after, _, _) = envelope.message {
            do {
                if let entry = try driver.storage.log.entry(at: Int64(after) - 1) {
                    boundary = Array(entry.bytes.readableBytesView)
                }
            } catch {
                logger.error("DLedger: reading the boundary entry \(Int64(after) - 1) failed: \(error)")
            }
        }
        let peerId = config.peers.peers.first { $0.number == envelope.to.value }?.id ?? "n\(envelope.to.value)"
        return DLedgerWire.encode(
            DLedgerWire.Frame(envelope: envelope, prevEnd: prevEnd, boundary: boundary), identity: identity, to: peerId)
    }

    /// The byte end of DLedger entry `entryIndex` (the log's start for -1).
    static func end(ofEntry entryIndex: Int64, in log: DLedgerLog) throws -> Int64 {
        if entryIndex < log.ledgerBeginIndex { return log.dataMinOffset }
        guard let unit = try log.indexUnit(at: entryIndex) else { return log.dataEnd }
        return unit.pos + Int64(unit.entrySize)
    }

    func memberState(_ core: RaftCore) -> DLedgerMemberState {
        let role: DLedgerMemberState.Role =
            switch core.role {
            case .leader: .leader
            case .follower: .follower
            case .candidate, .preCandidate: .candidate
            }
        let ready = core.isLeader && core.log.term(at: core.commitIndex) == core.term
        return DLedgerMemberState(
            role: role, term: core.term.value, leaderId: core.leader.map { "n\($0.value)" }, leaderReady: ready)
    }

    /// Outside the lock: frames leave, commit waiters resume, listeners hear of a new state.
    func finish(outbox: [(NodeID, RemotingCommand)], effects: Effects) {
        if !outbox.isEmpty { transport.withLock { $0 }?.send(outbox) }
        if effects.flushWanted { flushRequests.yield() }
        if let end = effects.committedEnd { committed.advance(to: end) }
        guard let state = effects.state else { return }
        let previous = member.withLock { current -> DLedgerMemberState? in
            guard current != state else { return nil }
            defer { current = state }
            return current
        }
        guard let previous else { return }
        if previous.role == .leader, state.role != .leader {
            // Waiters for entries this member can no longer commit: the outcome is unknown.
            committed.fail("this broker is no longer the DLedger leader (\(state))")
        }
        let notable = loggedState.withLock { logged -> Bool in
            guard state.isNotable(after: logged) else { return false }
            logged = state
            return true
        }
        logger.log(level: notable ? .info : .debug, "DLedger \(config.group) member \(config.selfId): \(state)")
        for listener in listeners.withLock({ $0 }) { listener(state) }
    }

    /// SYNC_FLUSH: the leader's own entries become durable here, in groups; then the core may
    /// count them. ASYNC_FLUSH: the files are synced every `flushIntervalMillis`.
    func runFlusher() async {
        if !config.syncFlush {
            var failing: String?  // logged once per episode, not every interval
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(config.flushIntervalMillis))
                do {
                    try flush()
                    if failing != nil { logger.warning("DLedger: syncing the log succeeds again") }
                    failing = nil
                } catch {
                    if failing == nil { logger.error("DLedger: syncing the log failed: \(error)") }
                    failing = "\(error)"
                }
            }
            return
        }
        for await _ in flushStream {
            guard
                let (files, index, term) = driver.withLock({ driver -> ([MappedFile], LogIndex, Term)? in
                    guard let driver else { return nil }
                    return (
                        driver.storage.log.unflushedDataFiles, driver.storage.lastIndex,
                        driver.storage.term(at: driver.storage.lastIndex) ?? .zero
                    )
                })
            else { continue }
            do {
                for file in files { try file.flush() }
            } catch {
                syncFailed(error)
                continue
            }
            // A leader's failing episode ends with its own group flush.
            let recovered = driver.withLock { driver -> Bool in
                guard driver?.failing != nil else { return false }
                driver!.failing = nil
                return true
            }
            if recovered { logger.warning("DLedger: writing the log succeeds again") }
            step(.persisted(through: index, term: term))
        }
    }
}
