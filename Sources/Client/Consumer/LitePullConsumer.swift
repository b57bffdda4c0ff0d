import DequeModule
import Logging
import Remoting
import Synchronization

/// A lite pull consumer (`DefaultLitePullConsumer`): the application polls. Queues come from a
/// subscription (clustering allocation and rebalance, like the push consumer) or are assigned
/// explicitly; background long-polling pulls fill a buffer bounded per queue by
/// `pullThresholdForQueue`. Offsets advance when messages are polled and are committed to the
/// broker by `commit()` (and every `persistConsumerOffsetIntervalMillis` with `autoCommit`).
public final class LitePullConsumer: Sendable {
    public let group: String
    public let autoCommit: Bool
    let core: ConsumerCore
    let buffer: PollBuffer

    public init(
        group: String, namesrvAddr: String, options: ConsumerOptions = ConsumerOptions(), autoCommit: Bool = true,
        logger: Logger = Logger(label: "rocketmq.lite-pull-consumer")
    ) throws {
        self.group = group
        self.autoCommit = autoCommit
        core = try ConsumerCore(
            group: group, namesrvAddr: namesrvAddr, options: options, consumeType: .consumeActively, logger: logger)
        buffer = PollBuffer()
    }

    public func subscribe(_ topic: String, expression: String = "*") { core.subscribe(topic, expression: expression) }

    /// Consumes exactly these queues (no rebalance).
    public func assign(_ queues: [MessageQueue]) {
        core.assigned.withLock { $0 = queues.sorted() }
        for topic in Set(queues.map(\.topic)) { core.subscribe(topic, expression: "*") }
    }

    /// The readable queues of a topic, from the NameServer.
    public func fetchMessageQueues(_ topic: String) async throws -> [MessageQueue] {
        guard let route = try await core.api.topicRoute(topic) else { throw ClientError.noRoute(topic: topic) }
        core.routeTable.routes.withLock { $0[topic] = route }
        return core.readableQueues(of: topic)
    }

    public func start() async throws { try await core.start(sink: buffer) }

    /// Commits the polled offsets, then stops.
    public func shutdown() async {
        if autoCommit { await commit() }
        await core.shutdown()
    }

    /// The next messages, waiting up to `timeout` for some to arrive.
    public func poll(timeout: Duration = .seconds(5)) async -> [MessageExt] {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let (queue, messages) = buffer.take(), !queue.isDropped {
                let polled = restoringRetryTopic(messages, group: group)
                let offsets = messages.map(\.queueOffset)
                if autoCommit {
                    core.consumed(queue, offsets: offsets)
                } else if let next = queue.finish(offsets) {
                    buffer.polled(queue.queue, next)
                }
                return polled
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return [] }
            await buffer.arrivals.wait(timeout: min(remaining, .milliseconds(500)))
        }
    }

    /// Commits the offsets of everything polled so far to the broker (or the local file).
    public func commit() async {
        for (queue, offset) in buffer.takePolled() { core.offsets.update(queue, offset, increaseOnly: true) }
        await core.persistOffsets()
    }

    /// The next poll of `queue` starts at `offset`.
    public func seek(_ queue: MessageQueue, to offset: Int64) async { await core.seek(queue, to: offset) }

    /// The queues this consumer currently reads.
    public var assignedQueues: [MessageQueue] { core.processQueues.withLock { $0.keys.sorted() } }
}

/// Pulled batches waiting for `poll`, and (without auto-commit) polled offsets waiting for
/// `commit`.
final class PollBuffer: MessageSink {
    let batches = Mutex<Deque<(ProcessQueue, [MessageExt])>>([])
    let uncommitted = Mutex<[MessageQueue: Int64]>([:])
    let arrivals = AsyncEvent()

    var requiresQueueLocks: Bool { false }
    func queueAdded(_ queue: ProcessQueue) {}
    func queueRemoved(_ queue: ProcessQueue) async {
        batches.withLock { batches in batches.removeAll { $0.0 === queue } }
    }

    func delivered(_ messages: [MessageExt], from queue: ProcessQueue) {
        batches.withLock { $0.append((queue, messages)) }
        arrivals.signal()
    }

    func take() -> (ProcessQueue, [MessageExt])? { batches.withLock { $0.popFirst() } }

    func polled(_ queue: MessageQueue, _ next: Int64) { uncommitted.withLock { $0[queue] = next } }

    func takePolled() -> [MessageQueue: Int64] {
        uncommitted.withLock { table in
            defer { table = [:] }
            return table
        }
    }
}
