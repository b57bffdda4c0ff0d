import Common
import Logging
import NIOCore
import Raft
import Remoting
import Storage
import Synchronization

/// One member of a DLedger group: the Raft driver over the DLedger log and the peer transport.
///
/// The driver is the one owner of the core and the log (`driver`, one lock): ticks, peer
/// messages, proposals and disk completions all step the core under it and carry out each
/// `Ready` in order — persist (term file, entries; fsync first with SYNC_FLUSH when acks depend
/// on it), then send, then advance the commit point. Frames leave after the lock is released.
///
/// The broker writes through `append(bodySize:encode:)` and waits on `committed` (the byte end
/// of the committed log) for the quorum; it reads committed bytes with `read(offset:count:)`.
public final class DLedgerServer: Sendable {
    public let config: DLedgerConfig
    let selfPeer: DLedgerPeers.Peer
    let identity: DLedgerWire.Identity
    let logger: Logger
    let driver = Mutex<Driver?>(nil)
    /// The log's `dataEnd`, published by the driver whenever its lock is released (so the
    /// broker's every put reads it without taking that lock).
    let publishedEnd = Atomic<Int64>(0)
    let transport = Mutex<DLedgerTransport?>(nil)
    /// The byte end of the committed, locally written log: quorum waits resume from here.
    public let committed = OffsetWaiter(maxWaiters: 100_000)
    let member = Mutex(DLedgerMemberState(role: .follower, term: 0, leaderId: nil, leaderReady: false))
    let listeners = Mutex<[@Sendable (DLedgerMemberState) -> Void]>([])
    /// The last state logged at info: a leader lost and found again within one term (a replica
    /// whose writes fail restarts its core many times a second) is logged at debug only.
    let loggedState = Mutex<DLedgerMemberState?>(nil)
    let tasks = Mutex<[Task<Void, Never>]>([])
    let flushRequests: AsyncStream<Void>.Continuation
    let flushStream: AsyncStream<Void>

    struct Driver {
        var core: RaftCore
        let storage: DLedgerRaftStorage
        let raftConfig: RaftConfig
        /// The term and vote last made durable.
        var termFile: DLedgerTermFile
        var checkpoint: DLedgerCheckpoint
        /// Byte end of the entries through the applied index.
        var committedEnd: Int64
        var ticks = 0
        /// The current storage failure (logged once per episode).
        var failing: String?
        /// The leader's first entry from its last `restartLog` (the log restarts with it).
        var restartBoundary: DLedgerEntry?
    }

    /// Refuses a member whose own id is not in the peer list.
    public init(config: DLedgerConfig, logger: Logger) throws(DLedgerPeersError) {
        self.config = config
        self.logger = logger
        selfPeer = try config.peers.member(config.selfId)
        identity = DLedgerWire.Identity(
            group: config.group, selfId: config.selfId, peers: config.peers, dataFileSize: config.dataFileSize)
        (flushStream, flushRequests) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var selfNumber: UInt64 { selfPeer.number }

    /// Recovers the log, reads the term file and checkpoint, starts listening and ticking.
    public func start() async throws {
        let committedEnd = try driver.withLock { driver throws -> Int64 in
            let opened = try openDriver()
            driver = opened
            publishedEnd.store(opened.storage.log.dataEnd, ordering: .releasing)
            return opened.committedEnd
        }
        committed.advance(to: committedEnd)
        let transport = DLedgerTransport(
            identity: identity, peers: config.peers, selfPeer: selfPeer, logger: logger,
            deliver: { [weak self] frame in self?.receive(frame) },
            connectionLost: { [weak self] peer in self?.step(.connectionLost(peer)) })
        try await transport.start()
        self.transport.withLock { $0 = transport }
        let interval = Duration.milliseconds(config.tickMillis)
        let ticker = Task { [weak self] in
            var next = ContinuousClock.now + interval
            while !Task.isCancelled {
                try? await Task.sleep(until: next, clock: .continuous)
                next = max(next + interval, .now)
                guard let self else { return }
                self.tick()
            }
        }
        let flusher = Task { [weak self] in
            guard let self else { return }
            await self.runFlusher()
        }
        tasks.withLock { $0 = [ticker, flusher] }
    }

    /// The log recovered from disk, the term and vote from `currterm`, the commit hint from
    /// `checkpoint`, and a core over them.
    func openDriver() throws -> Driver {
        try Directories.create(config.memberDirectory)
        var log = DLedgerLog(
            dataDirectory: config.dataDirectory, indexDirectory: config.indexDirectory,
            dataFileSize: config.dataFileSize, indexFileSize: config.indexFileSize)
        if let cut = try log.recover() {
            logger.warning("DLedger log recovery cut the tail: \(cut)")
        }
        let termFile = try DLedgerTermFile.read(config.termPath) ?? DLedgerTermFile()
        var votedFor: NodeID?
        if let vote = termFile.voteLeader {
            guard let peer = config.peers.peer(vote) else {
                throw DLedgerServerError.badState(path: config.termPath, problem: "voteLeader \(vote) is not a peer")
            }
            votedFor = NodeID(peer.number)
        }
        let checkpoint = try DLedgerCheckpoint.read(config.checkpointPath) ?? DLedgerCheckpoint()
        let commit = LogIndex(max(min(checkpoint.committedIndex, log.ledgerEndIndex) + 1, 0))
        var raftConfig = RaftConfig(
            id: NodeID(selfPeer.number), voters: config.peers.peers.map { NodeID($0.number) },
            seed: UInt64.random(in: 1...UInt64.max))
        raftConfig.tickIntervalMillis = config.tickMillis
        raftConfig.deliversAppliedEntries = false
        raftConfig.maxBytesPerAppend = 1 << 20
        let storage = DLedgerRaftStorage(log: log)
        let core = RaftCore(
            config: raftConfig,
            hardState: HardState(term: Term(UInt64(termFile.currTerm)), votedFor: votedFor, commit: commit),
            log: RaftLog(storage: storage), appliedIndex: commit)
        let committedEnd = try Self.end(ofEntry: Int64(core.appliedIndex) - 1, in: log)
        logger.info(
            "DLedger \(config.group) member \(config.selfId): log [\(log.ledgerBeginIndex), \(log.ledgerEndIndex)] term \(termFile.currTerm), committed through \(Int64(commit) - 1) (byte \(committedEnd)), \(config.syncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH")"
        )
        return Driver(
            core: core, storage: storage, raftConfig: raftConfig, termFile: termFile, checkpoint: checkpoint,
            committedEnd: committedEnd)
    }

    /// Stops ticking and listening, syncs the files and writes the checkpoint.
    public func shutdown() async {
        let running = tasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in running { task.cancel() }
        flushRequests.finish()
        let transport = self.transport.withLock { transport in
            defer { transport = nil }
            return transport
        }
        await transport?.shutdown()
        driver.withLock { driver in
            guard var running = driver else { return }
            do {
                try running.storage.log.flush()
                try writeCheckpoint(&running, force: true)
            } catch {
                logger.error("DLedger shutdown: syncing the log failed: \(error)")
            }
            driver = nil
        }
        committed.fail("the DLedger member stopped")
    }

    // MARK: what the broker uses

    public var state: DLedgerMemberState { member.withLock { $0 } }

    /// Whether this leader is handing leadership over (writes are refused meanwhile).
    public var isTransferringLeadership: Bool { driver.withLock { $0?.core.isTransferringLeadership ?? false } }

    /// Called (outside every lock, possibly concurrently) with each new member state.
    public func onStateChange(_ listener: @escaping @Sendable (DLedgerMemberState) -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    /// Appends one entry of `bodySize` bytes as the leader. `encode` gets the byte position of the
    /// body (entry position + 48, the first record's physical offset) and returns the body; it
    /// runs under the driver's lock, so nothing else can move the position in between.
    /// Returns the entry (`awaitCommit(of:timeout:)` tells what became of it); it is committed
    /// once `committed` reaches its end.
    public func append(bodySize: Int, encode: (Int64) throws -> [UInt8]) throws -> ReplicatedEntry {
        var outbox: [(NodeID, RemotingCommand)] = []
        var effects = Effects()
        let entry = try driver.withLock { driver throws -> ReplicatedEntry in
            guard driver != nil else { throw DLedgerServerError.notRunning }
            guard driver!.core.isLeader else {
                throw DLedgerServerError.notLeader(leaderId: driver!.core.leader.map { "n\($0.value)" })
            }
            guard !driver!.core.isTransferringLeadership else { throw DLedgerServerError.leadershipTransferring }
            let position = driver!.storage.log.nextPosition(forSize: DLedgerEntry.headerSize + bodySize)
            let body = try encode(position + Int64(DLedgerEntry.headerSize))
            precondition(body.count == bodySize, "encoded \(body.count) bytes for a \(bodySize)-byte entry")
            let ready = driver!.core.step(.propose(body))
            guard case .accepted(let index, _) = ready.proposal else {
                throw DLedgerServerError.notLeader(leaderId: nil)
            }
            carryOut(ready, driver: &driver!, outbox: &outbox, effects: &effects)
            guard driver!.storage.lastIndex >= index,
                let unit = try driver!.storage.log.indexUnit(at: Int64(index) - 1), unit.pos == position
            else {
                throw DLedgerServerError.storage(driver!.failing ?? "the entry was not written at \(position)")
            }
            return ReplicatedEntry(
                index: unit.index, term: unit.term, position: position, end: position + Int64(unit.entrySize))
        }
        finish(outbox: outbox, effects: effects)
        return entry
    }

    /// Bytes `[offset, offset + count)` of the data files (below the written end).
    public func read(offset: Int64, count: Int) throws -> ByteBuffer {
        let (file, end) = try driver.withLock { driver throws -> (MappedFile?, Int64) in
            guard let driver else { throw DLedgerServerError.notRunning }
            return (driver.storage.log.dataFile(containing: offset), driver.storage.log.dataEnd)
        }
        guard count > 0, let file, offset + Int64(count) <= end,
            offset + Int64(count) <= file.fileFromOffset + Int64(file.fileSize)
        else { throw StoreError.outOfRange(offset: offset) }
        return try file.read(at: Int(offset - file.fileFromOffset), count: count)
    }

    /// The first byte after the last written entry (what `bounds` says, without the rest).
    public var writtenEnd: Int64 { publishedEnd.load(ordering: .acquiring) }

    public struct LogBounds: Sendable, Equatable {
        public var minOffset: Int64
        public var writtenEnd: Int64
        public var flushedEnd: Int64
        public var fileSize: Int
    }

    public var bounds: LogBounds {
        driver.withLock { driver in
            guard let log = driver?.storage.log else {
                return LogBounds(minOffset: 0, writtenEnd: 0, flushedEnd: 0, fileSize: config.dataFileSize)
            }
            return LogBounds(
                minOffset: log.dataMinOffset, writtenEnd: log.dataEnd, flushedEnd: log.syncedEnd,
                fileSize: log.dataFileSize)
        }
    }

    /// Retention (`fileReservedTime`, disk pressure): deletes leading data files last written
    /// before `cutoffMillis` (any when nil) that lie wholly below `limit` — committed here and
    /// dispatched by the broker — at most `maxFiles`. A follower that still needed them is told
    /// to restart its log at this leader's first entry (`restartLog`, carrying that entry).
    public func deleteExpiredFiles(writtenBefore cutoffMillis: Int64?, maxFiles: Int, below limit: Int64) -> Int {
        driver.withLock { driver in
            guard driver != nil else { return 0 }
            do {
                let bound = min(limit, driver!.committedEnd)  // never what is not committed here
                let deleted = try driver!.storage.log.deleteLeadingFiles(maxCount: maxFiles, below: bound) { file in
                    cutoffMillis.map { file.lastModifiedMillis < $0 } ?? true
                }
                if deleted > 0 {
                    logger.info(
                        "DLedger retention: \(deleted) data files deleted; the log now starts at entry \(driver!.storage.log.ledgerBeginIndex)"
                    )
                }
                return deleted
            } catch {
                logger.error("DLedger retention failed: \(error)")
                return 0
            }
        }
    }

    /// Syncs the data and index files (outside the driver's lock).
    public func flush() throws {
        let files = driver.withLock { $0?.storage.log.unflushedFiles ?? [] }
        for file in files { try file.flush() }
    }

    /// Hands leadership to the most up-to-date follower and waits (up to `timeout`) until this
    /// member no longer leads. Returns whether it handed over.
    public func transferLeadership(to target: String? = nil, timeout: Duration = .seconds(3)) async -> Bool {
        let transferee: NodeID? = driver.withLock { driver in
            guard let core = driver?.core, core.isLeader else { return nil }
            if let target, let peer = config.peers.peer(target) { return NodeID(peer.number) }
            return config.peers.peers.map { NodeID($0.number) }.filter { $0 != core.id }
                .max { (core.matchIndex(of: $0) ?? 0) < (core.matchIndex(of: $1) ?? 0) }
        }
        guard let transferee else { return state.role != .leader }
        logger.info("DLedger: handing leadership to n\(transferee.value)")
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.role != .leader { return true }
            step(.transferLeadership(to: transferee))
            try? await Task.sleep(for: .milliseconds(20))
        }
        return state.role != .leader
    }

    /// Role, term, leader, indices: for `clusterList` and runtime info.
    public var status: [String: String] {
        driver.withLock { driver in
            guard let driver else { return [:] }
            return [
                "dLegerRole": member.withLock { $0.role.rawValue }, "dLegerTerm": String(driver.core.term.value),
                "dLegerLeader": driver.core.leader.map { "n\($0.value)" } ?? "",
                "dLegerEndIndex": String(driver.storage.log.ledgerEndIndex),
                "dLegerCommittedIndex": String(Int64(driver.core.commitIndex) - 1),
                // Not in DLedger's status: how far the data files are written and fsynced (a
                // machine crash loses what lies between), for the chaos runner.
                "dLegerDataEnd": String(driver.storage.log.dataEnd),
                "dLegerFlushedEnd": String(driver.storage.log.syncedEnd),
            ]
        }
    }

    // MARK: inputs

    func tick() {
        transport.withLock { $0 }?.maintainConnections()
        step(.tick) { [self] driver in
            driver.ticks += 1
            guard driver.ticks % max(1, 1000 / config.tickMillis) == 0 else { return nil }
            do {
                try writeCheckpoint(&driver, force: false)
            } catch {
                logger.error("DLedger checkpoint write failed: \(error)")
            }
            return preferredLeaderTransfer(driver)
        }
    }

    /// Leadership goes back to `preferredLeaderId` once it holds everything this leader has.
    func preferredLeaderTransfer(_ driver: Driver) -> RaftInput? {
        guard let preferred = config.preferredLeaderId, preferred != config.selfId,
            let peer = config.peers.peer(preferred), driver.core.isLeader, !driver.core.isTransferringLeadership,
            driver.core.matchIndex(of: NodeID(peer.number)) == driver.core.lastIndex
        else { return nil }
        logger.info("DLedger: preferred leader \(preferred) has caught up; handing leadership to it")
        return .transferLeadership(to: NodeID(peer.number))
    }

    func receive(_ frame: DLedgerWire.Frame) {
        step(.receive(frame.envelope), positionCheck: frame)
    }
}
