import ChaosCheck
import Client
import Foundation
import Remoting

/// One run: a whole cluster, the workload, every cycle of the schedule (inject, hold, heal,
/// wait until whole, settle), then the wind-down: producers stop, replicas catch up, every
/// queue is read back, consumers drain, brokers stop, and the replicas' committed prefixes are
/// compared. Returns the problems the runner met and the count of divergent replicas.
final class ChaosRun {
    let cluster: Cluster
    let nemesis: Nemesis
    let history: History
    let log: RunnerLog
    let settleMillis: Int
    let recoverySecs: Double
    let rate: Double

    init(
        cluster: Cluster, nemesis: Nemesis, history: History, log: RunnerLog, settleMillis: Int, recoverySecs: Double,
        rate: Double
    ) {
        self.cluster = cluster
        self.nemesis = nemesis
        self.history = history
        self.log = log
        self.settleMillis = settleMillis
        self.recoverySecs = recoverySecs
        self.rate = rate
    }

    struct NotWhole: Error, CustomStringConvertible {
        var description: String
    }

    func execute(_ schedule: FaultSchedule) async throws -> (errors: [String], divergent: Int) {
        var errors: [String] = []
        guard await cluster.waitUntil("a whole cluster", timeoutSecs: recoverySecs, { await self.cluster.isWhole() })
        else { throw NotWhole(description: "the cluster never became whole after start") }
        try await createTopic()
        var shape = Workload.Shape()
        shape.rate = rate
        let workload = Workload(history: history, namesrvAddr: cluster.layout.namesrvAddr, shape: shape, log: log)
        try await workload.start()
        try await Task.sleep(for: .milliseconds(settleMillis))
        for cycle in schedule.cycles {
            do {
                try await run(cycle)
            } catch {
                errors.append("cycle \(cycle.index) (\(cycle.kind.rawValue)): \(error)")
                log.line("cycle \(cycle.index) failed: \(error); healing everything")
                nemesis.healEverything()
            }
            let healed = history.nowMillis
            if await cluster.waitUntil("a whole cluster", timeoutSecs: recoverySecs, { await self.cluster.isWhole() }) {
                log.line("cycle \(cycle.index): whole again \(Int(history.nowMillis - healed)) ms after the heal")
            } else {
                errors.append(
                    "cycle \(cycle.index) (\(cycle.kind.rawValue)): not whole \(Int(recoverySecs)) s after the heal")
                nemesis.healEverything()
            }
            try await Task.sleep(for: .milliseconds(settleMillis))
        }
        log.line("wind-down: producers stop")
        await workload.stopProducing()
        if !(await cluster.waitUntil("a whole cluster", timeoutSecs: recoverySecs, { await self.cluster.isWhole() })) {
            errors.append("wind-down: the cluster is not whole")
        }
        var committed: [Int: Int64] = [:]
        let caughtUp = await cluster.waitUntil("replicas caught up", timeoutSecs: recoverySecs) {
            let (done, indices) = await self.cluster.isCaughtUp()
            committed = indices
            return done
        }
        if !caughtUp { errors.append("wind-down: replicas did not catch up: committed \(committed)") }
        let (stored, problems) = try await FinalCheck.scan(cluster: cluster, history: history, topic: Workload.topic)
        errors += problems
        log.line("scan: \(stored.count) values stored; waiting for the consumers to receive them all")
        if !(await cluster.waitUntil("consumers drained", timeoutSecs: recoverySecs, { workload.hasReceived(stored) }))
        {
            log.line("consumers still miss \(workload.missing(from: stored)) stored values")
        }
        await workload.stopConsuming()
        await cluster.stopAll(graceSecs: 5)
        let divergent = try FinalCheck.compareReplicas(layout: cluster.layout, committed: committed, log: log)
        return (errors, divergent)
    }

    /// Inject, hold, heal.
    func run(_ cycle: FaultCycle) async throws {
        var injecting = history.nowMillis
        let (active, what) = try await nemesis.inject(cycle) { injecting = history.nowMillis }
        history.nemesis(cycle.kind, .start, detail: what, at: injecting)
        log.line("cycle \(cycle.index) \(cycle.kind.rawValue): \(what); held \(cycle.holdMillis) ms")
        try await Task.sleep(for: .milliseconds(cycle.holdMillis))
        defer { history.nemesis(cycle.kind, .end, detail: "healed") }
        try await nemesis.heal(active)
    }

    /// The topic on every group's master, 8 queues each, routed by the NameServers.
    func createTopic() async throws {
        let config = TopicConfig(topicName: Workload.topic, readQueueNums: 8, writeQueueNums: 8)
        let masters = try await cluster.admin.masters(cluster: nil)
        try await cluster.admin.updateTopic(config, brokerAddrs: masters)
        let ready = await cluster.waitUntil("the topic routed", timeoutSecs: recoverySecs) {
            do {
                guard let route = try await self.cluster.admin.api.topicRoute(Workload.topic) else { return false }
                return route.queueDatas.count == self.cluster.layout.groupCount
                    && route.queueDatas.allSatisfy { $0.writeQueueNums == 8 }
            } catch {
                return false
            }
        }
        guard ready else { throw NotWhole(description: "the topic \(Workload.topic) was never routed") }
        // Followers mirror topics from the master every second: give them that second.
        try await Task.sleep(for: .milliseconds(1500))
    }
}
