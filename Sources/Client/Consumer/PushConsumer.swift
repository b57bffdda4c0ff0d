import Common
import Logging
import Remoting
import Synchronization

public enum ConsumeConcurrentlyStatus: Sendable, Equatable {
    case consumeSuccess
    /// Deliver again later: clustering sends the messages back to the broker's retry queue
    /// (delay levels 3, 4, … by reconsume count) until `maxReconsumeTimes`, then the dead-letter
    /// queue; broadcasting drops them.
    case reconsumeLater
}

public enum ConsumeOrderlyStatus: Sendable, Equatable {
    case success
    /// Pause the queue and deliver the same messages again, in order.
    case suspendCurrentQueueAMoment
}

public typealias ConcurrentListener = @Sendable ([MessageExt], MessageQueue) async -> ConsumeConcurrentlyStatus
public typealias OrderlyListener = @Sendable ([MessageExt], MessageQueue) async -> ConsumeOrderlyStatus

/// A push consumer (`DefaultMQPushConsumer`): long-polling pulls underneath, messages handed to
/// a concurrent or an orderly listener. Clustering shares the group's queues with average
/// allocation and rebalances when members come and go; broadcasting gives every consumer
/// everything. Orderly listeners in clustering mode lock their queues on the broker.
///
/// Messages of a retry topic are shown with their original topic. Delivery is at least once.
public final class PushConsumer: Sendable {
    public let group: String
    let core: ConsumerCore
    let listener = Mutex<Listener?>(nil)

    enum Listener {
        case concurrent(ConcurrentListener)
        case orderly(OrderlyListener)
    }

    public init(
        group: String, namesrvAddr: String, options: ConsumerOptions = ConsumerOptions(),
        logger: Logger = Logger(label: "rocketmq.push-consumer")
    ) throws {
        self.group = group
        core = try ConsumerCore(
            group: group, namesrvAddr: namesrvAddr, options: options, consumeType: .consumePassively, logger: logger)
    }

    public var clientId: String { core.clientId }

    /// Subscribes to `topic`, filtered by a tag expression (`*`, `TagA || TagB`).
    public func subscribe(_ topic: String, expression: String = "*") { core.subscribe(topic, expression: expression) }

    public func registerMessageListener(_ listener: @escaping ConcurrentListener) {
        self.listener.withLock { $0 = .concurrent(listener) }
    }

    public func registerMessageListenerOrderly(_ listener: @escaping OrderlyListener) {
        self.listener.withLock { $0 = .orderly(listener) }
    }

    public func start() async throws {
        guard let listener = listener.withLock({ $0 }) else {
            throw ClientError.illegalMessage("register a message listener before starting the consumer")
        }
        let sink: any MessageSink =
            switch listener {
            case .concurrent(let consume): ConcurrentConsumeService(core: core, listener: consume)
            case .orderly(let consume): OrderlyConsumeService(core: core, listener: consume)
            }
        try await core.start(sink: sink)
    }

    /// Stops pulling, waits for running listeners, commits offsets, unlocks and unregisters.
    public func shutdown() async { await core.shutdown() }

    /// The queues this consumer currently owns.
    public var assignedQueues: [MessageQueue] { core.processQueues.withLock { $0.keys.sorted() } }
}

/// Messages from `%RETRY%group` are shown in the topic they were first sent to.
func restoringRetryTopic(_ messages: [MessageExt], group: String) -> [MessageExt] {
    let retryTopic = SystemTopics.retryTopic(for: group)
    return messages.map { message in
        guard message.topic == retryTopic, let original = message.properties[MessageConst.retryTopic] else {
            return message
        }
        var restored = message
        restored.topic = original
        return restored
    }
}

extension ConsumerCore {
    /// CONSUMER_SEND_MSG_BACK: the broker re-delivers the message through the group's retry
    /// queue (`delayLevel` 0: by reconsume count; -1: straight to the dead-letter queue).
    func sendBack(_ message: MessageExt, from queue: MessageQueue, delayLevel: Int) async -> Bool {
        guard let address = masterAddress(of: queue.brokerName) else { return false }
        let fields = [
            "offset": String(message.commitLogOffset), "group": group, "delayLevel": String(delayLevel),
            "originMsgId": message.uniqueKey ?? message.offsetMessageId, "originTopic": message.topic,
            "unitMode": "false", "maxReconsumeTimes": String(options.maxReconsumeTimes),
        ]
        do {
            _ = try await api.invokeExpectingSuccess(
                address, .request(code: RequestCode.consumerSendMsgBack, fields: fields))
            return true
        } catch {
            logger.warning("sending \(message.uniqueKey ?? "?") back for a retry failed: \(error)")
            return false
        }
    }
}

/// Concurrent listeners (`ConsumeMessageConcurrentlyService`): up to `consumeConcurrency`
/// listener calls at once, offsets committed up to the lowest message still in flight.
final class ConcurrentConsumeService: MessageSink {
    let core: ConsumerCore
    let listener: ConcurrentListener
    let permits: AsyncPermits

    init(core: ConsumerCore, listener: @escaping ConcurrentListener) {
        self.core = core
        self.listener = listener
        permits = AsyncPermits(core.options.consumeConcurrency)
    }

    var requiresQueueLocks: Bool { false }
    func queueAdded(_ queue: ProcessQueue) {}
    func queueRemoved(_ queue: ProcessQueue) async {}

    func delivered(_ messages: [MessageExt], from queue: ProcessQueue) {
        let size = max(1, core.options.consumeMessageBatchMaxSize)
        for start in stride(from: 0, to: messages.count, by: size) {
            let batch = Array(messages[start..<min(start + size, messages.count)])
            Task { await self.consume(batch, from: queue) }
        }
    }

    func consume(_ batch: [MessageExt], from queue: ProcessQueue) async {
        await permits.acquire()
        defer { permits.release() }
        guard !queue.isDropped else { return }
        let status = await listener(restoringRetryTopic(batch, group: core.group), queue.queue)
        var done = batch.map(\.queueOffset)
        if status == .reconsumeLater {
            if core.options.messageModel == .broadcasting {
                core.logger.warning("broadcasting: \(batch.count) failed message(s) dropped, not retried")
            } else {
                var retryLocally: [MessageExt] = []
                for message in batch where !(await core.sendBack(message, from: queue.queue, delayLevel: 0)) {
                    retryLocally.append(message)
                }
                // A message the broker could not take back is consumed again here, later.
                done = batch.filter { !retryLocally.contains($0) }.map(\.queueOffset)
                if !retryLocally.isEmpty {
                    Task {
                        try? await Task.sleep(for: .seconds(5))
                        let again = retryLocally.map { message in
                            var message = message
                            message.reconsumeTimes += 1
                            return message
                        }
                        await self.consume(again, from: queue)
                    }
                }
            }
        }
        core.consumed(queue, offsets: done)
    }
}

/// Orderly listeners (`ConsumeMessageOrderlyService`): one listener call at a time per queue,
/// in queue order; a suspended batch is delivered again after `suspendCurrentQueueTimeMillis`,
/// and after `maxReconsumeTimes` it goes to the dead-letter queue so the queue can move on.
final class OrderlyConsumeService: MessageSink {
    let core: ConsumerCore
    let listener: OrderlyListener
    let loops = Mutex<[ObjectIdentifier: Task<Void, Never>]>([:])

    init(core: ConsumerCore, listener: @escaping OrderlyListener) {
        self.core = core
        self.listener = listener
    }

    var requiresQueueLocks: Bool { core.options.messageModel == .clustering }

    func delivered(_ messages: [MessageExt], from queue: ProcessQueue) {}

    func queueAdded(_ queue: ProcessQueue) {
        let task = Task { await self.consumeLoop(queue) }
        loops.withLock { $0[ObjectIdentifier(queue)] = task }
    }

    func queueRemoved(_ queue: ProcessQueue) async {
        await loops.withLock { $0.removeValue(forKey: ObjectIdentifier(queue)) }?.value
    }

    func consumeLoop(_ queue: ProcessQueue) async {
        let options = core.options
        var failures: [Int64: Int] = [:]
        while !queue.isDropped {
            if requiresQueueLocks, !queue.holdsLock(now: currentTimeMillis(), maxAgeMillis: 30_000) {
                await queue.arrivals.wait(timeout: .milliseconds(100))
                continue
            }
            let batch = queue.first(max(1, options.consumeMessageBatchMaxSize))
            guard !batch.isEmpty else {
                await queue.arrivals.wait(timeout: .seconds(1))
                continue
            }
            let shown = restoringRetryTopic(batch, group: core.group).map { message in
                var message = message
                message.reconsumeTimes += Int32(failures[message.queueOffset] ?? 0)
                return message
            }
            let status = await listener(shown, queue.queue)
            if queue.isDropped { return }  // the queue moved to another consumer mid-batch: it redelivers
            if status == .success {
                for message in batch { failures[message.queueOffset] = nil }
                core.consumed(queue, offsets: batch.map(\.queueOffset))
                continue
            }
            var exhausted: [MessageExt] = []
            for message in batch {
                failures[message.queueOffset, default: 0] += 1
                if Int(message.reconsumeTimes) + failures[message.queueOffset]! > options.maxReconsumeTimes {
                    exhausted.append(message)
                }
            }
            if exhausted.count == batch.count {
                // Clustering parks them in the dead-letter queue; broadcasting has none and drops them.
                var parked = true
                if options.messageModel == .clustering {
                    for message in exhausted where !(await core.sendBack(message, from: queue.queue, delayLevel: -1)) {
                        parked = false
                    }
                }
                if parked {
                    core.logger.warning(
                        "\(batch.count) message(s) of \(queue.queue) given up after \(options.maxReconsumeTimes) attempts"
                    )
                    core.consumed(queue, offsets: batch.map(\.queueOffset))
                    continue
                }
            }
            try? await Task.sleep(for: .milliseconds(options.suspendCurrentQueueTimeMillis))
        }
    }

}
