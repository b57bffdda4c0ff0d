import ChaosCheck
import Client
import Logging
import Remoting
import Synchronization

/// The load a chaos run puts on the cluster, with our Swift client, every step recorded:
/// - ordered producers: per sharding key one send at a time (the key's queue fixed by hash), so
///   per-key order can be checked;
/// - plain producers: single messages on any queue;
/// - batch producers: batches of `batchSize` messages in one request;
/// - clustering push consumers of one group with an orderly listener.
///
/// Every value is unique (`p0k1-17`), travels as the body, and is retried by the runner (never
/// by the client: its retries are off) with the attempt number logged, so every stored copy
/// can be traced to an attempt.
final class Workload: Sendable {
    struct Shape: Sendable {
        var orderedProducers = 2
        var keysPerProducer = 4
        var plainProducers = 1
        var batchProducers = 1
        var batchSize = 4
        var consumers = 2
        /// Messages per second over all producers.
        var rate = 60.0
        var sendTimeoutMillis: Int64 = 3000
    }

    static let topic = "ChaosTopic"
    static let consumerGroup = "ChaosConsumer"
    static let keyProperty = "CHAOS_KEY"
    let history: History
    let namesrvAddr: String
    let shape: Shape
    let log: RunnerLog
    let stopping = Atomic<Bool>(false)
    let received = Mutex<Set<String>>([])
    let tasks = Mutex<[Task<Void, Never>]>([])
    let producers = Mutex<[Producer]>([])
    let consumers = Mutex<[PushConsumer]>([])
    let logger: Logger

    init(history: History, namesrvAddr: String, shape: Shape, log: RunnerLog) {
        self.history = history
        self.namesrvAddr = namesrvAddr
        self.shape = shape
        self.log = log
        logger = .quiet("chaos.client")
    }

    /// One sending loop: who sends, which key, how many values per request, how often.
    struct Loop: Sendable {
        var proc: String
        var key: String?
        var batchSize: Int
        var intervalMillis: Int
    }

    func start() async throws {
        for index in 0..<shape.consumers { try await startConsumer(index) }
        let loops = plan()
        let perMessageMillis = 1000.0 / max(shape.rate, 0.1)
        let loopCount = Double(loops.count)
        var producerIndex = 0
        var byProc: [String: Producer] = [:]
        for loop in loops where byProc[loop.proc] == nil {
            var options = ProducerOptions()
            options.retryTimesWhenSendFailed = 0
            options.sendMsgTimeoutMillis = shape.sendTimeoutMillis
            options.pollNameServerIntervalMillis = 1000
            options.heartbeatBrokerIntervalMillis = 5000
            options.brokerIsolationMillis = 1000
            options.instanceName = "chaos-\(loop.proc)"
            let producer = Producer(
                group: "ChaosProducer\(producerIndex)", namesrvAddr: namesrvAddr, options: options, logger: logger)
            producerIndex += 1
            await producer.start()
            byProc[loop.proc] = producer
            producers.withLock { $0.append(producer) }
        }
        for var loop in loops {
            // Each loop sends its share of the rate: loops × values per request × interval.
            loop.intervalMillis = Int(perMessageMillis * loopCount * Double(loop.batchSize))
            let producer = byProc[loop.proc]!
            let task = Task { await self.run(loop, producer: producer) }
            tasks.withLock { $0.append(task) }
        }
        log.line(
            "workload: \(loops.count) sending loops, \(shape.consumers) consumers, about \(Int(shape.rate)) msgs/s")
    }

    func plan() -> [Loop] {
        var loops: [Loop] = []
        var next = 0
        for _ in 0..<shape.orderedProducers {
            let proc = "p\(next)"
            next += 1
            for key in 0..<shape.keysPerProducer {
                loops.append(Loop(proc: proc, key: "\(proc)k\(key)", batchSize: 1, intervalMillis: 0))
            }
        }
        for _ in 0..<shape.plainProducers {
            loops.append(Loop(proc: "p\(next)", key: nil, batchSize: 1, intervalMillis: 0))
            next += 1
        }
        for _ in 0..<shape.batchProducers {
            loops.append(Loop(proc: "p\(next)", key: nil, batchSize: shape.batchSize, intervalMillis: 0))
            next += 1
        }
        return loops
    }

    func run(_ loop: Loop, producer: Producer) async {
        var sequence = 0
        var due = ContinuousClock.now
        let prefix = loop.key ?? loop.proc
        while !stopping.load(ordering: .relaxed) {
            let values = (0..<loop.batchSize).map { "\(prefix)-\(sequence + $0)" }
            sequence += loop.batchSize
            await sendUntilAcknowledged(values, loop: loop, producer: producer)
            due = max(
                due + .milliseconds(loop.intervalMillis), ContinuousClock.now - .milliseconds(loop.intervalMillis))
            try? await Task.sleep(until: due)
        }
    }

    /// Attempts until one is acknowledged, the run stops, or 50 attempts failed. A value that
    /// was given up may still have been stored (an indeterminate attempt): the checker counts
    /// it as recovered.
    func sendUntilAcknowledged(_ values: [String], loop: Loop, producer: Producer) async {
        var attempt = 1
        while attempt <= 50 {
            for value in values {
                history.record(.invoke, proc: loop.proc, val: value, key: loop.key, attempt: attempt)
            }
            let messages = values.map { value in
                var message = Message(topic: Self.topic, body: value, keys: [value])
                if let key = loop.key { message.properties[Self.keyProperty] = key }
                return message
            }
            do {
                let result: SendResult
                if let key = loop.key {
                    result = try await producer.send(messages[0], shardingKey: key)
                } else if messages.count == 1 {
                    result = try await producer.send(messages[0])
                } else {
                    result = try await producer.sendBatch(messages)
                }
                let queue = result.messageQueue
                for (offset, value) in values.enumerated() {
                    let position = QueuePosition(
                        topic: queue.topic, group: queue.brokerName, queue: queue.queueId,
                        offset: result.queueOffset + Int64(offset))
                    if result.status == .sendOK {
                        history.record(.ok, proc: loop.proc, val: value, key: loop.key, attempt: attempt, pos: position)
                    } else {
                        // Stored on the master but not known to be replicated: indeterminate.
                        history.record(
                            .info, proc: loop.proc, val: value, key: loop.key, attempt: attempt, pos: position,
                            detail: "\(result.status)")
                    }
                }
                if result.status == .sendOK { return }
            } catch {
                let type: HistoryEvent.Kind = Self.isDefinite(error) ? .fail : .info
                for value in values {
                    history.record(
                        type, proc: loop.proc, val: value, key: loop.key, attempt: attempt, detail: "\(error)")
                }
            }
            if stopping.load(ordering: .relaxed) { return }
            attempt += 1
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A failure that means the message was not stored: nothing was sent (no route, no
    /// connection), or the broker refused it before storing. Timeouts and closed connections
    /// are indeterminate.
    static func isDefinite(_ error: any Error) -> Bool {
        switch error {
        case RemotingError.connectFailed, RemotingError.badAddress: true
        case RemotingError.timeout, RemotingError.connectionClosed: false
        case ClientError.noRoute, ClientError.noNameServer, ClientError.illegalMessage, ClientError.notStarted: true
        case ClientError.broker: true
        default: false
        }
    }

    func startConsumer(_ index: Int) async throws {
        var options = ConsumerOptions()
        options.consumeFromWhere = .firstOffset
        options.rebalanceIntervalMillis = 1000
        options.pollNameServerIntervalMillis = 1000
        options.heartbeatBrokerIntervalMillis = 1000
        options.persistConsumerOffsetIntervalMillis = 1000
        options.pullTimeDelayMillisWhenException = 200
        options.instanceName = "chaos-c\(index)"
        let consumer = try PushConsumer(
            group: Self.consumerGroup, namesrvAddr: namesrvAddr, options: options, logger: logger)
        consumer.subscribe(Self.topic)
        let proc = "c\(index)"
        consumer.registerMessageListenerOrderly { [self] messages, queue in
            for message in messages {
                let value = String(decoding: message.body, as: UTF8.self)
                history.record(
                    .recv, proc: proc, val: value, key: message.properties[Self.keyProperty],
                    pos: QueuePosition(
                        topic: queue.topic, group: queue.brokerName, queue: queue.queueId, offset: message.queueOffset))
                received.withLock { _ = $0.insert(value) }
            }
            return .success
        }
        try await consumer.start()
        consumers.withLock { $0.append(consumer) }
    }

    /// Stops the producers' loops (the attempt in flight ends first).
    func stopProducing() async {
        stopping.store(true, ordering: .relaxed)
        for task in tasks.withLock({ $0 }) { await task.value }
        for producer in producers.withLock({ $0 }) { await producer.shutdown() }
    }

    func stopConsuming() async {
        for consumer in consumers.withLock({ $0 }) { await consumer.shutdown() }
    }

    func hasReceived(_ values: Set<String>) -> Bool { received.withLock { values.isSubset(of: $0) } }
    func missing(from values: Set<String>) -> Int { received.withLock { values.subtracting($0).count } }
}
