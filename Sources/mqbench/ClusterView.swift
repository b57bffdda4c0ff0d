import Client
import Logging
import NIOCore
import Remoting
import Synchronization

/// The brokers W3 works on, as the NameServer and the brokers describe them: which nodes make
/// the cluster whole, their processes, and reading a topic back.
final class ClusterView: Sendable {
    struct NotReady: Error, CustomStringConvertible {
        var description: String
    }

    let admin: MQAdmin
    let logger: Logger
    /// Every broker address registered when the run began: the cluster is whole when all are back.
    let nodes: Set<String>
    private let pidTable = Mutex<[String: Int32]>([:])

    init(admin: MQAdmin, logger: Logger) async throws {
        self.admin = admin
        self.logger = logger
        nodes = Set(try await admin.clusterInfo().brokers.flatMap { $0.brokerAddrs.values })
        guard !nodes.isEmpty else { throw NotReady(description: "no broker is registered with the name server") }
        for address in nodes {
            guard let pid = try await admin.brokerRuntimeInfo(address)["pid"].flatMap({ Int32($0) }) else {
                throw NotReady(description: "broker \(address) does not report its pid (runtime info key `pid`)")
            }
            pidTable.withLock { $0[address] = pid }
        }
    }

    var pids: [Int32] { pidTable.withLock { Array($0.values) } }

    /// Waits until every node is registered again, every broker group has a master, and every
    /// node answers (learning restarted nodes' pids).
    func waitUntilWhole(timeoutSecs: Double) async throws {
        try await poll(timeoutSecs, what: "every node registered with a master per group") {
            let brokers = try await self.admin.clusterInfo().brokers
            let registered = Set(brokers.flatMap { $0.brokerAddrs.values })
            guard registered.isSuperset(of: self.nodes), brokers.allSatisfy({ $0.masterAddress != nil }) else {
                return false
            }
            for address in self.nodes {
                guard let pid = try await self.admin.brokerRuntimeInfo(address)["pid"].flatMap({ Int32($0) }) else {
                    return false
                }
                self.pidTable.withLock { $0[address] = pid }
            }
            return true
        }
    }

    /// Waits until the nodes of each broker group report the same CommitLog end as its master.
    func waitUntilCaughtUp(timeoutSecs: Double) async throws {
        try await poll(timeoutSecs, what: "replicas caught up with their master") {
            for broker in try await self.admin.clusterInfo().brokers where broker.brokerAddrs.count > 1 {
                var ends = Set<String>()
                for address in broker.brokerAddrs.values {
                    ends.insert(try await self.admin.brokerRuntimeInfo(address)["commitLogMaxOffset"] ?? "?")
                }
                if ends.count != 1 { return false }
            }
            return true
        }
    }

    /// SIGKILLs the master of `brokerName` (the group that acknowledged last), or of the topic's
    /// first group; returns how it was started.
    func kill(brokerName: String?, topic: String) async throws -> NodeProcess {
        guard let route = try await admin.api.topicRoute(topic) else { throw ClientError.noRoute(topic: topic) }
        let groups = route.brokerDatas.sorted { $0.brokerName < $1.brokerName }
        guard let group = groups.first(where: { $0.brokerName == brokerName }) ?? groups.first,
            let address = group.masterAddress, let pid = pidTable.withLock({ $0[address] })
        else { throw NotReady(description: "no master to kill for \(topic)") }
        let node = try NodeProcess(pid: pid)
        node.kill()
        return node
    }

    /// The ids (first 8 body bytes) of every message stored in `topic`, read from each queue's master.
    func readBack(topic: String) async throws -> [UInt64] {
        guard let route = try await admin.api.topicRoute(topic) else { throw ClientError.noRoute(topic: topic) }
        var ids: [UInt64] = []
        for status in try await admin.topicStatus(topic) {
            guard
                let address = route.brokerDatas.first(where: { $0.brokerName == status.queue.brokerName })?
                    .masterAddress
            else { continue }
            var offset = status.minOffset
            while offset < status.maxOffset {
                let (messages, next) = try await admin.pull(
                    address: address, topic: topic, queueId: status.queue.queueId, offset: offset, maxCount: 32)
                ids += messages.compactMap { BenchBody.parse($0.body)?.0 }
                guard next > offset else { break }
                offset = next
            }
        }
        return ids
    }

    private func poll(_ timeoutSecs: Double, what: String, _ condition: @Sendable () async throws -> Bool)
        async throws
    {
        let deadline = BenchClock.nanos() + Int64(timeoutSecs * 1e9)
        var lastError: (any Error)?
        while BenchClock.nanos() < deadline {
            do {
                if try await condition() { return }
            } catch {
                lastError = error
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw NotReady(
            description: "timed out after \(Int(timeoutSecs)) s waiting for \(what)"
                + (lastError.map { " (last error: \($0))" } ?? ""))
    }
}
