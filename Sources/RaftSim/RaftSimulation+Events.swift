import Raft

extension RaftSimulation {
    mutating func handle(_ event: Event) {
        switch event {
        case .tick(let node, let incarnation):
            guard nodes[node].incarnation == incarnation, nodes[node].core != nil else { return }
            queue.push(at: now + tickMillis, .tick(node, incarnation: incarnation))
            process(nodes[node].core!.step(.tick), node: node)
        case .deliver(let envelope):
            let to = Int(envelope.to.value)
            guard nodes[to].core != nil, !blocked.contains(Link(from: Int(envelope.from.value), to: to)) else { return }
            trace.append(now, envelope)
            process(nodes[to].core!.step(.receive(envelope)), node: to)
        case .diskDone(let node, let incarnation, let writeId):
            guard nodes[node].incarnation == incarnation, let write = nodes[node].pendingWrites.first else { return }
            precondition(
                write.id == writeId, "disk completion \(writeId) out of order: head is \(write.id), n\(node) at \(now)")
            nodes[node].pendingWrites.removeFirst()
            makeDurable(write, node: node, entries: write.entries, withHardState: true)
            for message in write.messages { send(message) }
            if let last = write.entries.last {
                process(nodes[node].core!.step(.persisted(through: last.index, term: last.term)), node: node)
            } else if let restart = write.restartLog {
                process(nodes[node].core!.step(.persisted(through: restart.index, term: restart.term)), node: node)
            }
        case .connectionLost(let node, let incarnation, let peer):
            guard nodes[node].incarnation == incarnation, nodes[node].core != nil else { return }
            trace.append(now, "n\(node) lost its connection to n\(peer)")
            process(nodes[node].core!.step(.connectionLost(NodeID(UInt64(peer)))), node: node)
        case .fault:
            guard faultsOn else { return }
            injectFault()
            queue.push(
                at: now + options.faultIntervalMillis / 2 + rng.next(in: 0..<options.faultIntervalMillis), .fault)
        case .propose:
            guard proposalsOn else { return }
            queue.push(at: now + options.proposalIntervalMillis, .propose)
            let leaders = nodes.indices.filter { nodes[$0].core?.isLeader == true }
            guard !leaders.isEmpty else { return }
            let leader = leaders[rng.next(in: 0..<leaders.count)]
            proposalCounter += 1
            process(nodes[leader].core!.step(.propose(Array("p\(proposalCounter)".utf8))), node: leader)
        }
    }

    /// The driver's side of a `Ready`: send, persist (in order, then send the promises), apply.
    mutating func process(_ ready: Ready, node: Int) {
        for message in ready.messages { send(message) }
        if ready.mustPersist || !nodes[node].pendingWrites.isEmpty {
            nextWriteId += 1
            let write = PendingWrite(
                id: nextWriteId, hardState: ready.hardState, restartLog: ready.restartLog,
                entries: ready.entriesToAppend, messages: ready.messagesAfterPersist)
            nodes[node].pendingWrites.append(write)
            let done = max(now, nodes[node].diskFreeAt) + rng.next(in: 0..<(options.maxDiskLatencyMillis + 1))
            nodes[node].diskFreeAt = done
            queue.push(at: done, .diskDone(node, incarnation: nodes[node].incarnation, write: write.id))
        } else {
            for message in ready.messagesAfterPersist { send(message) }
        }
        if let restart = ready.restartLog {
            trace.append(now, "n\(node) restarts its log after \(restart.index)@\(restart.term)")
            logRestarts += 1
            nodes[node].appliedThrough = max(nodes[node].appliedThrough, restart.index)
        }
        checkCommitAndLeadership(node)
        for entry in ready.entriesToApply { apply(entry, node: node) }
    }

    mutating func makeDurable(_ write: PendingWrite, node: Int, entries: [LogEntry], withHardState: Bool) {
        if withHardState, let hardState = write.hardState { nodes[node].durableHardState = hardState }
        if let restart = write.restartLog { nodes[node].storage.reset(after: restart.index, term: restart.term) }
        nodes[node].storage.write(entries)
    }

    mutating func send(_ envelope: Envelope) {
        let link = Link(from: Int(envelope.from.value), to: Int(envelope.to.value))
        guard !blocked.contains(link), !rng.chance(dropRate) else { return }
        queue.push(at: now + rng.next(in: 0..<(options.maxNetworkDelayMillis + 1)), .deliver(envelope))
        if rng.chance(duplicateRate) {
            queue.push(at: now + rng.next(in: 0..<(options.maxNetworkDelayMillis * 4 + 1)), .deliver(envelope))
        }
    }

    // MARK: node lifecycle

    mutating func startNode(_ node: Int) {
        nodes[node].core = RaftCore(config: config(for: node), log: RaftLog(storage: nodes[node].storage))
        queue.push(at: rng.next(in: 1..<tickMillis), .tick(node, incarnation: nodes[node].incarnation))
    }

    /// Unsynced writes are lost; with `tornWrites` a random prefix of them reached the disk,
    /// the last one possibly cut mid-way (its hard state not written).
    mutating func crashNode(_ node: Int, tornWrites: Bool) {
        guard nodes[node].core != nil else { return }
        trace.append(now, "crash n\(node)")
        if tornWrites, !nodes[node].pendingWrites.isEmpty {
            let survivors = rng.next(in: 0..<(nodes[node].pendingWrites.count + 1))
            for write in nodes[node].pendingWrites.prefix(survivors) {
                makeDurable(write, node: node, entries: write.entries, withHardState: true)
            }
            if survivors < nodes[node].pendingWrites.count {
                let torn = nodes[node].pendingWrites[survivors]
                let kept = rng.next(in: 0..<(torn.entries.count + 1))
                makeDurable(torn, node: node, entries: Array(torn.entries.prefix(kept)), withHardState: false)
            }
        }
        // Its peers see their connections reset, after about one network delay.
        if options.connectionLossSignals {
            for peer in nodes.indices where peer != node && nodes[peer].core != nil {
                queue.push(
                    at: now + rng.next(in: 0..<(options.maxNetworkDelayMillis + 1)),
                    .connectionLost(peer, incarnation: nodes[peer].incarnation, peer: node))
            }
        }
        nodes[node].core = nil
        nodes[node].pendingWrites = []
        nodes[node].incarnation += 1
        nodes[node].appliedThrough = 0
        nodes[node].leaderTerm = nil
    }

    mutating func restartNode(_ node: Int) {
        guard nodes[node].core == nil else { return }
        trace.append(now, "restart n\(node)")
        var config = config(for: node)
        config.seed = rng.next()
        nodes[node].core = RaftCore(
            config: config, hardState: nodes[node].durableHardState, log: RaftLog(storage: nodes[node].storage))
        // The state machine restarts from what retention left: dropped entries count as applied.
        nodes[node].appliedThrough = nodes[node].core!.appliedIndex
        nodes[node].checkedCommit = nodes[node].storage.firstIndex - 1
        nodes[node].diskFreeAt = now
        queue.push(at: now + rng.next(in: 1..<tickMillis), .tick(node, incarnation: nodes[node].incarnation))
        checkCommitAndLeadership(node)
    }

    // MARK: faults

    mutating func injectFault() {
        let live = nodes.indices.filter { nodes[$0].core != nil }
        let down = nodes.indices.filter { nodes[$0].core == nil }
        switch rng.next(in: 0..<13) {
        case 12:
            // Retention: a node drops a prefix of what it has applied (between disk writes, as
            // the broker's driver does).
            if options.compaction, let victim = live.randomElement(using: &rng), let core = nodes[victim].core,
                nodes[victim].pendingWrites.isEmpty
            {
                let through = min(core.appliedIndex, nodes[victim].storage.lastIndex)
                if through > 0 {
                    let cut = LogIndex(rng.next(in: 1..<Int(through) + 1))
                    nodes[victim].storage.compact(through: cut)
                    trace.append(now, "n\(victim) drops its log through \(cut)")
                }
            }
        case 11:
            // A spurious close: the peer is alive (a flaky link); safety must not depend on it.
            let node = rng.next(in: 0..<nodes.count)
            let peer = (node + 1 + rng.next(in: 0..<(nodes.count - 1))) % nodes.count
            if options.connectionLossSignals, nodes[node].core != nil {
                queue.push(at: now, .connectionLost(node, incarnation: nodes[node].incarnation, peer: peer))
            }
        case 0, 1:
            if let victim = live.randomElement(using: &rng) { crashNode(victim, tornWrites: true) }
        case 2, 3:
            if let revived = down.randomElement(using: &rng) { restartNode(revived) }
        case 4:
            isolate(rng.next(in: 0..<nodes.count))
        case 5:
            let a = rng.next(in: 0..<nodes.count)
            let b = (a + 1 + rng.next(in: 0..<(nodes.count - 1))) % nodes.count
            blocked.insert(Link(from: a, to: b))
            trace.append(now, "block n\(a) -> n\(b) (asymmetric)")
        case 6:
            let side = Set(nodes.indices.filter { _ in rng.chance(0.5) })
            for a in nodes.indices {
                for b in nodes.indices where a != b && side.contains(a) != side.contains(b) {
                    blocked.insert(Link(from: a, to: b))
                }
            }
            trace.append(now, "partition \(side.sorted()) | rest")
        case 7:
            blocked = []
            trace.append(now, "network healed")
        case 8:
            dropRate = Double(rng.next(in: 0..<30)) / 100
            duplicateRate = Double(rng.next(in: 0..<10)) / 100
            trace.append(now, "drop \(dropRate) duplicate \(duplicateRate)")
        case 9:
            if let leader = currentLeader { isolate(leader) }
        default:
            if let leader = currentLeader {
                // The leader can send but not receive (a classic asymmetric failure).
                for other in nodes.indices where other != leader { blocked.insert(Link(from: other, to: leader)) }
                trace.append(now, "leader n\(leader) deaf")
            }
        }
    }

    mutating func isolate(_ node: Int) {
        for other in nodes.indices where other != node {
            blocked.insert(Link(from: node, to: other))
            blocked.insert(Link(from: other, to: node))
        }
        trace.append(now, "isolate n\(node)")
    }
}

extension SplitMix64: RandomNumberGenerator {}
