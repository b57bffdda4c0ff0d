import Raft

/// A synchronous in-memory driver (unit tests, the core benchmark): persists at once, delivers
/// in FIFO order, and lets a caller cut nodes off.
public struct InMemoryCluster {
    public var cores: [NodeID: RaftCore] = [:]
    public var applied: [NodeID: [LogEntry]] = [:]
    public var isolated: Set<NodeID> = []
    public var pending: [(NodeID, RaftInput)] = []
    /// Keep applied entries (tests) or only count them (benchmarks).
    public var recordApplied = true
    public private(set) var appliedCount: [NodeID: Int] = [:]

    public init(size: Int, configure: (inout RaftConfig) -> Void = { _ in }) {
        let ids = (0..<size).map { NodeID(UInt64($0)) }
        for id in ids {
            var config = RaftConfig(id: id, voters: ids, seed: 42)
            configure(&config)
            cores[id] = RaftCore(config: config)
        }
    }

    public init(cores: [RaftCore]) {
        for core in cores { self.cores[core.id] = core }
    }

    public func core(_ value: UInt64) -> RaftCore { cores[NodeID(value)]! }

    public var leaders: [NodeID] { cores.values.filter(\.isLeader).map(\.id).sorted() }

    @discardableResult
    public mutating func step(_ value: UInt64, _ input: RaftInput) -> Ready {
        let id = NodeID(value)
        let ready = cores[id]!.step(input)
        handle(ready, of: id)
        return ready
    }

    public mutating func handle(_ ready: Ready, of id: NodeID) {
        let storage = cores[id]!.log.storage as! MemoryLogStorage
        if let restart = ready.restartLog { storage.reset(after: restart.index, term: restart.term) }
        storage.write(ready.entriesToAppend)
        if let last = ready.entriesToAppend.last {
            pending.append((id, .persisted(through: last.index, term: last.term)))
        }
        for envelope in ready.messages + ready.messagesAfterPersist {
            guard !isolated.contains(envelope.from), !isolated.contains(envelope.to), cores[envelope.to] != nil else {
                continue
            }
            pending.append((envelope.to, .receive(envelope)))
        }
        appliedCount[id, default: 0] += ready.entriesToApply.count
        if recordApplied { applied[id, default: []] += ready.entriesToApply }
    }

    /// Delivers everything until nothing is left (bounded), or until `stop` holds.
    public mutating func stabilize(maxSteps: Int = 100_000, until stop: (InMemoryCluster) -> Bool = { _ in false }) {
        var steps = 0
        while !pending.isEmpty, steps < maxSteps, !stop(self) {
            let (id, input) = pending.removeFirst()
            guard cores[id] != nil else { continue }
            handle(cores[id]!.step(input), of: id)
            steps += 1
        }
    }

    /// Ticks every live node once per round until `condition` holds; returns the rounds taken.
    @discardableResult
    public mutating func tickUntil(maxRounds: Int = 1_000, _ condition: (InMemoryCluster) -> Bool) -> Int? {
        for round in 0..<maxRounds {
            if condition(self) { return round }
            for id in cores.keys.sorted() { handle(cores[id]!.step(.tick), of: id) }
            stabilize()
        }
        return condition(self) ? maxRounds : nil
    }

    public mutating func electSomeLeader() -> NodeID? {
        tickUntil { !$0.leaders.isEmpty }
        return leaders.first
    }
}
