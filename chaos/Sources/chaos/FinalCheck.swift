import ChaosCheck
import Client
import DLedgerStore
import Foundation
import Remoting

/// After the last fault: read every queue of the topic from offset 0 on each group's master
/// (the `scan` events), and compare the committed prefixes of every group's replicas.
enum FinalCheck {
    /// Records a `scan` event for every stored message; returns the values found and any
    /// queue that could not be read to its end.
    static func scan(cluster: Cluster, history: History, topic: String) async throws -> (Set<String>, [String]) {
        var values = Set<String>()
        var problems: [String] = []
        var leaders: [Int: Int] = [:]  // group -> leading node, asked once per group
        for group in 0..<cluster.layout.groupCount {
            leaders[group] = await cluster.leader(ofGroup: group)
        }
        for status in try await cluster.admin.topicStatus(topic) {
            let queue = status.queue
            guard let group = cluster.layout.nodes.first(where: { $0.brokerName == queue.brokerName })?.group,
                let leader = leaders[group]
            else {
                problems.append("no leader to read \(queue) from")
                continue
            }
            let address = cluster.layout.nodes[leader].remotingAddress
            var offset = max(0, status.minOffset)
            if status.minOffset > 0 { problems.append("\(queue) starts at \(status.minOffset), not 0") }
            var rounds = 0
            while offset < status.maxOffset {
                rounds += 1
                guard rounds < 100_000 else {
                    problems.append("\(queue): gave up at offset \(offset)")
                    break
                }
                let (messages, next) = try await cluster.admin.pull(
                    address: address, topic: topic, queueId: queue.queueId, offset: offset, maxCount: 32)
                for message in messages {
                    let value = String(decoding: message.body, as: UTF8.self)
                    values.insert(value)
                    history.record(
                        .scan, proc: "scan", val: value, key: message.properties[Workload.keyProperty],
                        pos: QueuePosition(
                            topic: topic, group: queue.brokerName, queue: queue.queueId, offset: message.queueOffset))
                }
                if messages.isEmpty, next <= offset {
                    problems.append("\(queue): no progress at offset \(offset) of \(status.maxOffset)")
                    break
                }
                offset = messages.isEmpty ? next : max(next, (messages.last?.queueOffset ?? offset) + 1)
            }
        }
        return (values, problems)
    }

    /// Members of each group whose committed entries (index, term, body) differ from the
    /// group's first member's, entry by entry up to the lowest committed index of the group.
    /// The brokers must be stopped. Returns the divergent count and what was compared.
    static func compareReplicas(layout: ClusterLayout, committed: [Int: Int64], log: RunnerLog) throws -> Int {
        var divergent = 0
        for group in 0..<layout.groupCount {
            let members = layout.members(ofGroup: group)
            var logs: [DLedgerLog] = []
            for node in members {
                var replica = DLedgerLog(
                    dataDirectory: node.dledgerDataDirectory, indexDirectory: node.dledgerIndexDirectory,
                    dataFileSize: ClusterLayout.dataFileSize, indexFileSize: ClusterLayout.indexFileSize)
                if let cut = try replica.recover() { log.line("replica \(node.name): recovery cut \(cut)") }
                logs.append(replica)
            }
            let upTo = members.compactMap { committed[$0.index] }.min() ?? -1
            let from = logs.map(\.ledgerBeginIndex).max() ?? 0
            var differs = Set<Int>()
            if upTo >= from {
                for entryIndex in from...upTo {
                    let reference = try logs[0].entry(at: entryIndex)
                    for member in 1..<logs.count where !differs.contains(member) {
                        let entry = try logs[member].entry(at: entryIndex)
                        if entry?.term != reference?.term || entry?.body != reference?.body || entry == nil {
                            differs.insert(member)
                            log.line(
                                "DIVERGENT: \(members[member].name) differs from \(members[0].name) at entry \(entryIndex)"
                            )
                        }
                    }
                }
            }
            log.line(
                "replicas of group \(group): entries \(from)...\(upTo) compared, "
                    + (differs.isEmpty ? "identical" : "\(differs.count) divergent"))
            divergent += differs.count
        }
        return divergent
    }
}
