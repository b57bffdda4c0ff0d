import ArgumentParser
import Client
import Common
import Logging
import NIOCore
import Remoting
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

@main
struct MQBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqbench",
        abstract: "The benchmark workload (W1 publish, W2 produce+consume, W3 failover) against a RocketMQ cluster.",
        subcommands: [W1.self, W2.self, W3.self])
}

struct BenchOptions: ParsableArguments {
    @Option(name: .customShort("n"), help: "Name server address.") var namesrvAddr: String = "127.0.0.1:9876"
    @Option(help: "Topic (created with 1 read and 1 write queue).") var topic: String = "bench"
    @Option(help: "Body size in bytes.") var size: Int = 1024
    @Option(help: "Messages to send.") var count: Int?
    @Option(help: "Stop sending after this many seconds.") var secs: Double?
    @Option(help: "Max unacknowledged sends.") var window: Int?
    @Option(help: "Offered load in msgs/s (0 = as fast as the window allows).") var rate: Int = 0
    @Option(help: "Label for the JSON line's `config`.") var config: String = "single-async"
    @Option(help: "Repetition number for the JSON line.") var rep: Int = 1
    @Option(help: "Server process ids to account CPU for (comma separated).") var serverPids: String = ""
    @Option(help: "How the clients' requests encode their headers: JSON or ROCKETMQ.")
    var serializeType: SerializeType = .json
    @Flag(help: "Measure at once: skip the quiet-machine wait and the re-runs of contended runs.")
    var noQuietWait = false

    var pids: [Int32] { serverPids.split(separator: ",").compactMap { Int32($0) } }
}

extension SerializeType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

/// What the runs share: a producer on a one-queue topic, windowed pacing and the JSON line.
final class BenchRun: Sendable {
    let options: BenchOptions
    let producer: Producer
    let admin: MQAdmin
    let filler: [UInt8]
    let acks = Mutex<[Int64]>([])  // ack latency in ns, in completion order
    let failures = Atomic<Int>(0)
    let lastAck = Atomic<Int64>(0)
    let logger: Logger

    init(options: BenchOptions, window: Int, sendTimeoutMillis: Int64 = 3000) {
        self.options = options
        var logger = Logger(label: "mqbench")
        logger.logLevel = .critical
        self.logger = logger
        var producerOptions = ProducerOptions()
        producerOptions.compressMsgBodyOverHowmuch = Int.max  // the workload has no compression
        producerOptions.maxInflightAsyncSends = window
        producerOptions.sendMsgTimeoutMillis = sendTimeoutMillis
        producerOptions.pollNameServerIntervalMillis = 1000
        producerOptions.serializeType = options.serializeType
        producer = Producer(
            group: "PG_MQBENCH", namesrvAddr: options.namesrvAddr, options: producerOptions, logger: logger)
        admin = MQAdmin(api: MQClientAPI(namesrvAddr: options.namesrvAddr, logger: logger))
        filler = BenchBody.filler(size: options.size)
    }

    /// Creates (or keeps) `topic` with one read and one write queue on every master.
    func prepareTopic(_ topic: String? = nil) async throws {
        let topic = topic ?? options.topic
        let masters = try await admin.masters(cluster: nil)
        guard !masters.isEmpty else { throw ClientError.noRoute(topic: topic) }
        try await admin.updateTopic(
            TopicConfig(topicName: topic, readQueueNums: 1, writeQueueNums: 1), brokerAddrs: masters)
    }

    /// Sends `count` messages (or for `secs`) with at most `window` unacknowledged, paced at `rate`.
    /// Returns (sent, first send ns).
    func publish(count: Int, secs: Double, window: Int, rate: Int, firstId: UInt64, record: Bool) async -> (Int, Int64)
    {
        let start = BenchClock.nanos()
        var sent = 0
        let reporter = record ? Task { await self.reportEverySecond(start: start) } : nil
        while sent < count, Double(BenchClock.nanos() - start) / 1e9 < secs {
            if rate > 0 {
                let due = start + Int64(Double(sent) / Double(rate) * 1e9)
                let wait = due - BenchClock.nanos()
                if wait > 0 { try? await Task.sleep(for: .nanoseconds(wait)) }
            }
            let message = Message(
                topic: options.topic, body: BenchBody.make(id: firstId + UInt64(sent), filler: filler))
            if window == 1 {
                let began = BenchClock.nanos()
                if (try? await producer.send(message)) != nil {
                    let now = BenchClock.nanos()
                    if record { acks.withLock { $0.append(now - began) } }
                    lastAck.store(now, ordering: .relaxed)
                } else {
                    failures.add(1, ordering: .relaxed)
                }
            } else {
                let began = BenchClock.nanos()
                await producer.sendAsync(message) { [self] result in
                    let now = BenchClock.nanos()
                    switch result {
                    case .success:
                        if record { acks.withLock { $0.append(now - began) } }
                        lastAck.store(now, ordering: .relaxed)
                    case .failure:
                        failures.add(1, ordering: .relaxed)
                    }
                }
            }
            sent += 1
        }
        // Wait for the last acknowledgements.
        while record, acks.withLock({ $0.count }) + failures.load(ordering: .relaxed) < sent {
            try? await Task.sleep(for: .milliseconds(1))
        }
        reporter?.cancel()
        return (sent, start)
    }

    func reportEverySecond(start: Int64) async {
        var seen = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let recent = acks.withLock { Array($0[seen...]) }.sorted()
            seen += recent.count
            print(
                "[\(Int(Double(BenchClock.nanos() - start) / 1e9))s] tps=\(recent.count) "
                    + "rt_p50=\(rounded(percentileMillis(recent, 0.5)))ms rt_p99=\(rounded(percentileMillis(recent, 0.99)))ms "
                    + "total=\(seen)")
        }
    }

    /// Forgets the acknowledgements of an earlier attempt.
    func reset() {
        acks.withLock { $0.removeAll() }
        failures.store(0, ordering: .relaxed)
        lastAck.store(0, ordering: .relaxed)
    }

    func jsonLine(_ fields: [String: JSONValue], cpu: CPUUsage) -> String {
        var all: [String: JSONValue] = [
            "peer": .string("swift-rocketmq"), "config": .string(options.config), "rep": .int(options.rep),
            "serialize_type": .string(options.serializeType.name),
            "server_cpu_pct": .number(String(rounded(cpu.server, 10))),
            "server_cpu_pct_each": .array(cpu.each.map { .number(String(rounded($0, 10))) }),
            "loadgen_cpu_pct": .number(String(rounded(cpu.loadgen, 10))),
            "machine_busy_pct": .number(String(rounded(cpu.busy, 10))),
            "other_cpu_pct": .number(String(rounded(cpu.other, 10))),
            "contended": .bool(cpu.other > QuietRule.contendedAbovePercent), "unavail_ms": .null,
            "max_ack_gap_after_kill_ms": .null,
            "lost_acked": .int(0), "duplicates": .int(0),
        ]
        all.merge(fields) { _, new in new }
        return JSONValue.object(all).serialized()
    }

    func shutdown() async {
        await producer.shutdown()
        await admin.api.shutdown()
    }
}

struct W1: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "w1", abstract: "Publish throughput and ack latency at a window.")
    @OptionGroup var options: BenchOptions

    func run() async throws {
        let window = options.window ?? 64
        let run = BenchRun(options: options, window: window)
        try await run.prepareTopic()
        _ = await run.publish(count: 5_000, secs: 60, window: 64, rate: 0, firstId: 1 << 40, record: false)  // warm-up
        let measured = await QuietRule.measure(servers: options.pids, enabled: !options.noQuietWait) { _ in
            run.reset()
            let before = CPUSample.take(servers: options.pids)
            let (sent, start) = await run.publish(
                count: options.count ?? 200_000, secs: options.secs ?? 30, window: window, rate: options.rate,
                firstId: 0, record: true)
            let after = CPUSample.take(servers: options.pids)
            let latencies = run.acks.withLock { $0 }.sorted()
            let seconds = Double(run.lastAck.load(ordering: .relaxed) - start) / 1e9
            let rate = Double(latencies.count) / max(seconds, 1e-9)
            let fields: [String: JSONValue] = [
                "mode": .string("w1"), "window": .int(window), "rate": .int(options.rate), "sent": .int(sent),
                "acked": .int(latencies.count), "secs": .number(String(rounded(seconds))),
                "msgs_per_s": .number(String(Int(rate))),
                "mb_per_s": .number(String(rounded(rate * Double(options.size) / 1e6, 100))),
                "consume_msgs_per_s": .null, "e2e_p50_ms": .null, "e2e_p99_ms": .null,
            ]
            return (fields.merging(ackPercentiles(latencies)) { $1 }, CPUSample.usage(from: before, to: after))
        }
        print(run.jsonLine(measured.fields, cpu: measured.cpu))
        await run.shutdown()
    }
}

/// `ack_p50_ms`, `ack_p99_ms` and `ack_p999_ms` of sorted latencies.
func ackPercentiles(_ sorted: [Int64]) -> [String: JSONValue] {
    [
        "ack_p50_ms": .number(String(rounded(percentileMillis(sorted, 0.5)))),
        "ack_p99_ms": .number(String(rounded(percentileMillis(sorted, 0.99)))),
        "ack_p999_ms": .number(String(rounded(percentileMillis(sorted, 0.999)))),
    ]
}

struct W2: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "w2",
        abstract: "One producer and one long-polling consumer at once: consume rate and end-to-end latency.")
    @OptionGroup var options: BenchOptions

    func run() async throws {
        let window = options.window ?? 64
        let run = BenchRun(options: options, window: window)
        try await run.prepareTopic()
        let measured = try await QuietRule.measure(servers: options.pids, enabled: !options.noQuietWait) { attempt in
            run.reset()
            return try await measure(run, window: window, group: "CG_MQBENCH_\(getpid())_\(attempt)")
        }
        print(run.jsonLine(measured.fields, cpu: measured.cpu))
        await run.shutdown()
    }

    func measure(_ run: BenchRun, window: Int, group: String) async throws -> ([String: JSONValue], CPUUsage) {
        // A clustering push consumer of a fresh group, subscribed before the first send: it starts
        // at the end of the (append-only) log and long-polls, with the default offset commits.
        var consumerOptions = ConsumerOptions()
        consumerOptions.serializeType = options.serializeType
        consumerOptions.consumeFromWhere = .lastOffset
        consumerOptions.pollNameServerIntervalMillis = 1000
        let consumer = try PushConsumer(
            group: group, namesrvAddr: options.namesrvAddr, options: consumerOptions, logger: run.logger)
        consumer.subscribe(options.topic)
        let consumed = Mutex<(latencies: [Int64], last: Int64)>(([], 0))
        consumer.registerMessageListener { messages, _ in
            let now = BenchClock.nanos()
            let latencies = messages.compactMap { BenchBody.parse($0.body).map { now - $0.1 } }
            consumed.withLock {
                $0.latencies += latencies
                $0.last = now
            }
            return .consumeSuccess
        }
        try await consumer.start()
        let topic = options.topic
        while !consumer.assignedQueues.contains(where: { $0.topic == topic }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let before = CPUSample.take(servers: options.pids)
        let (sent, start) = await run.publish(
            count: options.count ?? 100_000, secs: options.secs ?? 15, window: window, rate: options.rate, firstId: 0,
            record: true)
        let deadline = BenchClock.nanos() + 10_000_000_000
        while consumed.withLock({ $0.latencies.count }) < run.acks.withLock({ $0.count }), BenchClock.nanos() < deadline
        {
            try? await Task.sleep(for: .milliseconds(5))
        }
        let after = CPUSample.take(servers: options.pids)
        await consumer.shutdown()
        let (latencies, last) = consumed.withLock { ($0.latencies.sorted(), $0.last) }
        let acked = run.acks.withLock { $0 }.sorted()
        let seconds = Double(last - start) / 1e9
        let publishSeconds = max(1e-9, Double(run.lastAck.load(ordering: .relaxed) - start) / 1e9)
        let fields: [String: JSONValue] = [
            "mode": .string("w2"), "window": .int(window),
            "rate": options.rate > 0 ? .int(options.rate) : .string("max"),
            "sent": .int(sent), "acked": .int(acked.count), "secs": .number(String(rounded(seconds))),
            "msgs_per_s": .number(String(Int(Double(acked.count) / publishSeconds))), "mb_per_s": .null,
            "consume_msgs_per_s": .number(String(Int(Double(latencies.count) / max(seconds, 1e-9)))),
            "e2e_p50_ms": .number(String(rounded(percentileMillis(latencies, 0.5)))),
            "e2e_p99_ms": .number(String(rounded(percentileMillis(latencies, 0.99)))),
            "consumed": .int(latencies.count),
        ]
        return (fields.merging(ackPercentiles(acked)) { $1 }, CPUSample.usage(from: before, to: after))
    }
}
