import Raft

extension RaftSimulation {
    /// Election safety, the one committed history, and leader completeness.
    mutating func checkCommitAndLeadership(_ node: Int) {
        guard violation == nil, let core = nodes[node].core else { return }
        if core.isLeader {
            if let other = leadersByTerm[core.term], other != core.id {
                violation = "two leaders in \(core.term): \(other) and \(core.id)"
                return
            }
            if nodes[node].leaderTerm != core.term {
                leadersByTerm[core.term] = core.id
                nodes[node].leaderTerm = core.term
                trace.append(now, "n\(node) leads \(core.term) (last \(core.lastIndex))")
                for entry in committed
                where entry.index >= core.log.firstIndex && core.log.entry(at: entry.index) != entry {
                    violation = "leader completeness: \(core.id) leads \(core.term) without committed \(entry)"
                    return
                }
            }
        }
        var index = max(nodes[node].checkedCommit, core.log.firstIndex - 1)
        while index < core.commitIndex {
            index += 1
            guard let entry = core.log.entry(at: index) else {
                violation = "\(core.id) commit \(core.commitIndex) beyond its log \(core.lastIndex)"
                return
            }
            if index <= LogIndex(committed.count) {
                if committed[Int(index - 1)] != entry {
                    violation =
                        "committed entry changed at \(index): \(committed[Int(index - 1)]) vs \(entry) on \(core.id)"
                    return
                }
            } else {
                precondition(index == LogIndex(committed.count + 1))
                committed.append(entry)
            }
        }
        nodes[node].checkedCommit = index
    }

    /// Applied sequences are runs of the committed history, in order (retention may skip ahead).
    mutating func apply(_ entry: LogEntry, node: Int) {
        let position = nodes[node].appliedThrough
        guard entry.index == position + 1 else {
            violation = "n\(node) applied \(entry) after \(position) entries"
            return
        }
        guard position < LogIndex(committed.count), committed[Int(position)] == entry else {
            violation = "n\(node) applied \(entry), which is not the committed entry at that index"
            return
        }
        nodes[node].appliedThrough = entry.index
    }

    /// Log matching (§5.3): where two logs agree on an entry's term, they agree on everything before.
    mutating func checkLogMatching() {
        guard violation == nil else { return }
        let logs = nodes.compactMap { $0.core?.log }
        for a in logs.indices {
            for b in logs.indices where b > a {
                let floor = max(logs[a].firstIndex, logs[b].firstIndex)
                var index = min(logs[a].lastIndex, logs[b].lastIndex)
                while index >= floor, logs[a].term(at: index) != logs[b].term(at: index) { index -= 1 }
                if index >= floor,
                    logs[a].slice(from: floor, maxCount: Int(index - floor + 1))
                        != logs[b].slice(from: floor, maxCount: Int(index - floor + 1))
                {
                    violation = "log matching violated below index \(index)"
                    return
                }
            }
        }
    }
}

/// The last events of a run, kept cheaply and rendered only when a run fails.
struct TraceBuffer {
    enum Item {
        case note(String)
        case message(Envelope)
    }
    let capacity: Int
    var items: [(Int, Item)] = []
    var start = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func append(_ time: Int, _ note: String) { add((time, .note(note))) }
    mutating func append(_ time: Int, _ envelope: Envelope) { add((time, .message(envelope))) }

    private mutating func add(_ item: (Int, Item)) {
        if items.count < capacity {
            items.append(item)
        } else {
            items[start] = item
            start = (start + 1) % capacity
        }
    }

    func rendered() -> [String] {
        (items[start...] + items[..<start]).map { time, item in
            switch item {
            case .note(let text): "\(time)ms \(text)"
            case .message(let envelope): "\(time)ms \(envelope)"
            }
        }
    }
}
