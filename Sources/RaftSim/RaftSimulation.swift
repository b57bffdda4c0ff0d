import Raft

/// Knobs of one simulated run.
public struct SimulationOptions: Sendable {
    public var nodes: Int
    /// Faults (crashes, partitions, drops, duplicates) happen during this much simulated time.
    public var faultPhaseMillis = 6_000
    /// After healing, the group must elect a leader and commit everything within this time.
    public var convergeDeadlineMillis = 10_000
    public var proposalIntervalMillis = 40
    public var faultIntervalMillis = 250
    public var maxNetworkDelayMillis = 6
    public var maxDiskLatencyMillis = 4
    /// A deliberately broken core (mutation tests).
    public var mutation: RaftMutation?
    /// Peers of a crashed node are told its connection closed (and some closes are spurious),
    /// as the broker's transport tells the core.
    public var connectionLossSignals = true
    /// Nodes drop applied entries now and then (retention), so lagging followers restart
    /// their logs at the leader's boundary.
    public var compaction = true

    public init(nodes: Int = 3, mutation: RaftMutation? = nil) {
        self.nodes = nodes
        self.mutation = mutation
    }
}

public struct SimulationResult: Sendable {
    public var seed: UInt64
    public var nodes: Int
    public var violation: String?
    /// The last events before the end (rendered only for failed runs).
    public var trace: [String]
    /// Simulated time from the leader's crash to the next leader.
    public var failoverMillis: Int?
    public var committedEntries: Int
    public var events: Int
    /// Followers that restarted their log at a leader's boundary (retention dropped what they lacked).
    public var logRestarts: Int
}

/// N real `RaftCore`s on a seeded network and seeded disks. One seed is one run, exactly.
///
/// Checked after every event: at most one leader per term; every committed entry is identical
/// wherever it is committed or applied (nothing committed is ever lost or changed); a new leader
/// holds every committed entry (leader completeness); applied sequences are prefixes of one
/// history. Checked periodically: log matching. Checked at the end: committed entries are durable
/// on a majority, and every live node has applied every acknowledged proposal, in order.
public struct RaftSimulation {
    struct Node {
        var core: RaftCore?
        var incarnation = 0
        var durableHardState = HardState()
        /// What reached the disk (survives crashes).
        var storage = MemoryLogStorage()
        var pendingWrites: [PendingWrite] = []
        var diskFreeAt = 0
        /// The state machine: entries applied in order (through here; retention may skip ahead).
        var appliedThrough: LogIndex = 0
        var checkedCommit: LogIndex = 0
        var leaderTerm: Term?
    }

    struct PendingWrite {
        var id: Int
        var hardState: HardState?
        var restartLog: LogBoundary?
        var entries: [LogEntry]
        var messages: [Envelope]
    }

    enum Event {
        case tick(Int, incarnation: Int)
        case deliver(Envelope)
        case diskDone(Int, incarnation: Int, write: Int)
        case fault
        case propose
        /// `node`'s connection to `peer` closed (a crash resets sockets; a flaky link may too).
        case connectionLost(Int, incarnation: Int, peer: Int)
    }

    struct Link: Hashable {
        var from: Int
        var to: Int
    }

    public let seed: UInt64
    public let options: SimulationOptions
    var rng: SplitMix64
    var now = 0
    var queue = EventQueue<Event>()
    var nodes: [Node]
    var blocked: Set<Link> = []
    var dropRate = 0.0
    var duplicateRate = 0.0
    var faultsOn = true
    var proposalsOn = true
    var nextWriteId = 0
    var proposalCounter = 0
    var logRestarts = 0
    var events = 0
    var trace = TraceBuffer(capacity: 400)
    var leadersByTerm: [Term: NodeID] = [:]
    /// The one committed history, by index (entry i at position i-1).
    var committed: [LogEntry] = []
    var violation: String?

    public init(seed: UInt64, options: SimulationOptions) {
        self.seed = seed
        self.options = options
        rng = SplitMix64(seed: seed)
        nodes = (0..<options.nodes).map { _ in Node() }  // each with its own storage
    }

    var tickMillis: Int { RaftConfig(id: NodeID(0), voters: []).tickIntervalMillis }

    func config(for node: Int) -> RaftConfig {
        var config = RaftConfig(
            id: NodeID(UInt64(node)), voters: (0..<options.nodes).map { NodeID(UInt64($0)) }, seed: seed &+ UInt64(node)
        )
        config.mutation = options.mutation
        return config
    }

    // MARK: the run

    public mutating func run() -> SimulationResult {
        for node in nodes.indices { startNode(node) }
        queue.push(at: options.faultIntervalMillis, .fault)
        queue.push(at: options.proposalIntervalMillis, .propose)
        var failover: Int?
        runUntil(time: options.faultPhaseMillis)
        if violation == nil {
            heal()
            converge("after the fault phase")
        }
        if violation == nil { failover = leaderCrashTrial() }
        if violation == nil { finalChecks() }
        return SimulationResult(
            seed: seed, nodes: options.nodes, violation: violation,
            trace: violation == nil ? [] : trace.rendered(), failoverMillis: failover,
            committedEntries: committed.count,
            events: events, logRestarts: logRestarts)
    }

    mutating func runUntil(time: Int, while condition: ((inout RaftSimulation) -> Bool)? = nil) {
        while violation == nil, let next = queue.nextTime {
            if next > time {
                now = time
                return
            }
            let (at, event) = queue.pop()!
            now = at
            events += 1
            handle(event)
            for node in nodes.indices where nodes[node].core?.log.tailFollowsStorage == false && violation == nil {
                violation =
                    "n\(node)'s unstable log tail is detached from its storage: \(nodes[node].core!.log.debugState)"
            }
            if events % 128 == 0 { checkLogMatching() }
            if let condition, !condition(&self) { return }
        }
    }

    /// Heals everything and waits until one leader has committed and every live node applied it all.
    mutating func heal() {
        faultsOn = false
        proposalsOn = false
        blocked = []
        dropRate = 0
        duplicateRate = 0
        trace.append(now, "heal: network healed, crashed nodes restart")
        for node in nodes.indices where nodes[node].core == nil { restartNode(node) }
    }

    mutating func converge(_ when: String) {
        let deadline = now + options.convergeDeadlineMillis
        runUntil(time: deadline) { !$0.isQuiet }
        guard violation == nil else { return }
        guard isQuiet else {
            violation = "no convergence within \(options.convergeDeadlineMillis) ms \(when): \(status)"
            return
        }
        // Progress, not just quiet: a fresh proposal must commit everywhere too.
        guard let leader = currentLeader else { return }
        proposalCounter += 1
        let payload = Array("final-\(proposalCounter)".utf8)
        let ready = nodes[leader].core!.step(.propose(payload))
        process(ready, node: leader)
        runUntil(time: now + options.convergeDeadlineMillis) { sim in
            !(sim.isQuiet && sim.committed.contains { $0.payload == payload })
        }
        if violation == nil, !committed.contains(where: { $0.payload == payload }) {
            violation = "a proposal after convergence \(when) never committed: \(status)"
        }
    }

    var currentLeader: Int? {
        let leaders = nodes.indices.filter { nodes[$0].core?.isLeader == true }
        return leaders.max { nodes[$0].core!.term < nodes[$1].core!.term }
    }

    /// One leader, its log fully committed, every live node applied everything, disks idle.
    var isQuiet: Bool {
        guard let leader = currentLeader, let core = nodes[leader].core else { return false }
        guard core.commitIndex == core.lastIndex else { return false }
        return nodes.allSatisfy { node in
            guard let other = node.core else { return true }
            return other.appliedIndex == core.commitIndex && node.pendingWrites.isEmpty && other.term == core.term
        }
    }

    var status: String {
        nodes.indices.map { index in
            guard let core = nodes[index].core else { return "n\(index): down" }
            return
                "n\(index): \(core.role) \(core.term) last \(core.lastIndex)@\(core.log.lastTerm) commit \(core.commitIndex) "
                + "applied \(core.appliedIndex) unsynced writes \(nodes[index].pendingWrites.count)"
        }.joined(separator: "; ")
    }

    /// Crashes the leader of a healthy group and measures the time until a new one leads.
    mutating func leaderCrashTrial() -> Int? {
        guard let leader = currentLeader else { return nil }
        let oldTerm = nodes[leader].core!.term
        let start = now
        crashNode(leader, tornWrites: false)
        runUntil(time: now + 5_000) { sim in
            !sim.nodes.contains { $0.core?.isLeader == true && $0.core!.term > oldTerm }
        }
        guard violation == nil else { return nil }
        guard nodes.contains(where: { $0.core?.isLeader == true && $0.core!.term > oldTerm }) else {
            violation = "no new leader within 5 s of the leader's crash: \(status)"
            return nil
        }
        let elapsed = now - start
        restartNode(leader)
        converge("after the leader-crash trial")
        return elapsed
    }

    mutating func finalChecks() {
        checkLogMatching()
        // Durable on a majority: what "committed" promises.
        let quorum = options.nodes / 2 + 1
        for entry in committed {
            // Retention dropped what lies below a log's first index on purpose.
            let holders = nodes.filter {
                $0.storage.entry(at: entry.index) == entry || entry.index < $0.storage.firstIndex
            }.count
            if holders < quorum {
                violation = "committed entry \(entry) is durable on only \(holders) nodes"
                return
            }
        }
        for (index, node) in nodes.enumerated() where node.core != nil {
            if node.core!.appliedIndex < LogIndex(committed.count) {
                violation = "n\(index) applied \(node.core!.appliedIndex) of \(committed.count) committed entries"
                return
            }
        }
    }
}
