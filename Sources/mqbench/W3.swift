import ArgumentParser
import Client
import Common
import DequeModule
import Remoting
import Synchronization

struct W3: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "w3",
        abstract: "Failover: SIGKILL the node the producer writes to, under a paced load; unavailability and loss.",
        discussion: """
            Each repetition publishes new ids at --rate for --secs (retrying failed attempts with the \
            same id), kills the broker that acknowledged last at --kill-at, restarts it the way it was \
            started (from /proc: same arguments, directory, environment and log files), waits until \
            every node is registered again and replicas have caught up, and reads the topic back: \
            every acknowledged id must be there. The brokers must run on this machine.
            """)
    @OptionGroup var options: BenchOptions
    @Option(help: "Kills (repetitions), one after another on the same cluster.") var reps: Int = 3
    @Option(help: "Seconds into each repetition at which the leader is killed.") var killAt: Double = 5
    @Option(help: "Each attempt gives up after this many ms (then it is retried with the same id).")
    var attemptTimeoutMillis: Int64 = 2000
    @Option(help: "Max seconds to wait for the cluster to be whole again.") var settleSecs: Double = 90

    func run() async throws {
        let secs = options.secs ?? 20
        let rate = options.rate > 0 ? options.rate : 1000
        let window = options.window ?? 1000
        let run = BenchRun(options: options, window: window, sendTimeoutMillis: attemptTimeoutMillis)
        await run.producer.start()
        let cluster = try await ClusterView(admin: run.admin, logger: run.logger)
        print("nodes: \(cluster.nodes.sorted().joined(separator: " "))")
        var allAcked: [String: [UInt64]] = [:]
        let stamp = currentTimeMillis()
        for rep in options.rep..<options.rep + reps {
            try await cluster.waitUntilWhole(timeoutSecs: settleSecs)
            let topic = "\(options.topic)-w3-\(stamp)-\(rep)"
            try await run.prepareTopic(topic)
            let before = CPUSample.take(servers: options.pids + cluster.pids)
            let load = FailoverLoad(run: run, topic: topic, firstId: UInt64(rep) * 100_000_000)
            let killed = Mutex<NodeProcess?>(nil)
            let record = await load.run(secs: secs, rate: rate, killAtSecs: killAt) { lastBroker in
                do {
                    let node = try await cluster.kill(brokerName: lastBroker, topic: topic)
                    killed.withLock { $0 = node }
                    print("[kill] \(node)")
                    return true
                } catch {
                    print("[kill] failed: \(error)")
                    return false
                }
            }
            let after = CPUSample.take(servers: options.pids + cluster.pids)
            if let node = killed.withLock({ $0 }) {
                _ = try node.relaunch()
                print("[restart] \(node.arguments.joined(separator: " "))")
            }
            try await cluster.waitUntilWhole(timeoutSecs: settleSecs)
            try await cluster.waitUntilCaughtUp(timeoutSecs: settleSecs)
            let stored = try await cluster.readBack(topic: topic)
            let ids = Array(record.acked.keys)
            allAcked[topic] = ids
            let (lost, duplicates) = FailoverRecord.verify(acked: ids, stored: stored)
            let unavailable = record.unavailabilityNanos.map { JSONValue.number(String(rounded(Double($0) / 1e6))) }
            let gap = record.maxAckGapAfterKillNanos.map { JSONValue.number(String(rounded(Double($0) / 1e6))) }
            print(
                run.jsonLine(
                    [
                        "mode": .string("w3"), "rep": .int(rep), "window": .int(window), "rate": .int(rate),
                        "sent": .int(load.issued), "acked": .int(ids.count), "attempts": .int(load.attempts),
                        "secs": .number(String(secs)),
                        "msgs_per_s": .number(String(Int(Double(ids.count) / secs))), "mb_per_s": .null,
                        "consume_msgs_per_s": .null, "e2e_p50_ms": .null, "e2e_p99_ms": .null,
                        "unavail_ms": unavailable ?? .null, "max_ack_gap_after_kill_ms": gap ?? .null,
                        "lost_acked": .int(lost), "duplicates": .int(duplicates),
                        "duplicate_acks": .int(record.duplicateAcks), "stored": .int(stored.count),
                        "killed": killed.withLock { $0 }.map { .string($0.arguments.joined(separator: " ")) } ?? .null,
                    ].merging(ackPercentiles(load.sortedLatencies)) { $1 },
                    cpu: CPUSample.usage(from: before, to: after)))
        }
        // Everything once more, after the last restart: what every repetition acknowledged.
        var lost = 0
        var duplicates = 0
        for (topic, ids) in allAcked.sorted(by: { $0.key < $1.key }) {
            let result = FailoverRecord.verify(acked: ids, stored: try await cluster.readBack(topic: topic))
            lost += result.lost
            duplicates += result.duplicates
        }
        let idle = CPUSample.take(servers: [])
        print(
            run.jsonLine(
                [
                    "mode": .string("verify"), "rep": .int(options.rep + reps - 1), "window": .int(window),
                    "rate": .int(rate), "acked": .int(allAcked.values.reduce(0) { $0 + $1.count }),
                    "lost_acked": .int(lost), "duplicates": .int(duplicates),
                ], cpu: CPUSample.usage(from: idle, to: idle)))
        await run.shutdown()
        if lost > 0 { throw ExitCode(2) }
    }
}

/// W3's producer side: new ids at `rate`, retries of failed attempts with the same id 20 ms
/// later, attempts paced at no more than twice the rate, and a kill at `killAtSecs`.
final class FailoverLoad: Sendable {
    let run: BenchRun
    let topic: String
    let firstId: UInt64
    static let retryDelayNanos: Int64 = 20_000_000

    struct State {
        var record = FailoverRecord()
        var retries = Deque<(id: UInt64, dueNanos: Int64)>()
        var inflight = 0
        var issued = 0
        var attempts = 0
        var lastAckBroker: String?
        /// Ack latency (ns) of every acknowledged attempt, in arrival order.
        var latencies: [Int64] = []
    }
    let state = Mutex(State())

    init(run: BenchRun, topic: String, firstId: UInt64) {
        self.run = run
        self.topic = topic
        self.firstId = firstId
    }

    var issued: Int { state.withLock { $0.issued } }
    var sortedLatencies: [Int64] { state.withLock { $0.latencies }.sorted() }
    var attempts: Int { state.withLock { $0.attempts } }

    func run(secs: Double, rate: Int, killAtSecs: Double, kill: @Sendable (_ lastAckBroker: String?) async -> Bool)
        async -> FailoverRecord
    {
        let start = BenchClock.nanos()
        var killed = false
        var lastReport = start
        var reported = 0
        while true {
            let now = BenchClock.nanos()
            let elapsed = Double(now - start) / 1e9
            if elapsed >= secs { break }
            if !killed, elapsed >= killAtSecs {
                killed = true
                if await kill(state.withLock { $0.lastAckBroker }) {
                    // From the signal on (finding the target took a NameServer round trip).
                    state.withLock { $0.record.recordKill(atNanos: BenchClock.nanos()) }
                }
            }
            let attemptBudget = Int(elapsed * Double(2 * rate)) + 1
            while let id = nextAttempt(now: now, newIdsDue: Int(elapsed * Double(rate)) + 1, budget: attemptBudget) {
                await attempt(id)
            }
            if now - lastReport >= 1_000_000_000 {
                lastReport = now
                let (recent, acked, inflight, retries) = state.withLock { state in
                    defer { reported = state.latencies.count }
                    return (
                        Array(state.latencies[reported...]).sorted(), state.record.acked.count, state.inflight,
                        state.retries.count
                    )
                }
                print(
                    "[\(Int(elapsed))s] tps=\(recent.count) rt_p50=\(rounded(percentileMillis(recent, 0.5)))ms "
                        + "rt_p99=\(rounded(percentileMillis(recent, 0.99)))ms acked=\(acked) inflight=\(inflight) "
                        + "retry_queue=\(retries)")
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
        // The attempts still in flight finish (or time out); pending retries are dropped.
        let deadline = BenchClock.nanos() + 3_000_000_000
        while state.withLock({ $0.inflight }) > 0, BenchClock.nanos() < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return state.withLock { $0.record }
    }

    /// A due retry first, else a new id if one is due; nil when none is due or the budget is spent.
    func nextAttempt(now: Int64, newIdsDue: Int, budget: Int) -> UInt64? {
        state.withLock { state in
            guard state.attempts < budget else { return nil }
            let id: UInt64
            if let retry = state.retries.first, retry.dueNanos <= now {
                state.retries.removeFirst()
                id = retry.id
            } else if state.issued < newIdsDue {
                id = firstId + UInt64(state.issued)
                state.issued += 1
            } else {
                return nil
            }
            state.attempts += 1
            state.inflight += 1
            return id
        }
    }

    func attempt(_ id: UInt64) async {
        let message = Message(topic: topic, body: BenchBody.make(id: id, filler: run.filler))
        let sent = BenchClock.nanos()
        await run.producer.sendAsync(message) { [self] result in
            let now = BenchClock.nanos()
            state.withLock { state in
                state.inflight -= 1
                switch result {
                case .success(let sendResult):
                    state.record.recordAck(id: id, attemptSentNanos: sent, ackNanos: now)
                    state.latencies.append(now - sent)
                    state.lastAckBroker = sendResult.messageQueue.brokerName
                case .failure:
                    state.retries.append((id, now + Self.retryDelayNanos))
                }
            }
        }
    }
}
