import Common
import Logging
import NIOCore
import Remoting
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

public struct ProducerOptions: Sendable {
    /// Per-attempt timeout.
    public var sendMsgTimeoutMillis: Int64 = 3000
    /// Extra attempts of a sync send on another queue (preferably another broker).
    public var retryTimesWhenSendFailed = 2
    /// After a failed send to the only broker group that can take a message, how long a retry
    /// waits for the NameServers to name that group's new master (DLedger failover).
    public var failoverWaitMillis = 2000
    /// How often routes are re-read from the NameServers (RocketMQ's 30 s; faster failover with ~1 s).
    public var pollNameServerIntervalMillis = 30_000
    public var heartbeatBrokerIntervalMillis = 30_000
    /// How requests encode their headers: JSON (RocketMQ's default) or the binary ROCKETMQ form,
    /// which brokers parse with less work.
    public var serializeType = SerializeType.json
    /// Bodies at least this large are zlib-compressed (not batches).
    public var compressMsgBodyOverHowmuch = 4096
    public var maxMessageSize = 4 * 1024 * 1024
    /// Async sends in flight at most; further `sendAsync` calls wait for a slot.
    public var maxInflightAsyncSends = 1024
    /// A broker that failed is avoided this long when others are available.
    public var brokerIsolationMillis: Int64 = 10_000
    public var instanceName = String(getpid())

    public init() {}
}

/// A RocketMQ producer: sync, async (bounded in flight), one-way, orderly (queue chosen from a
/// sharding key) and batch sends; retries on another broker; route refresh on failure.
public final class Producer: Sendable {
    public let group: String
    public let options: ProducerOptions
    let api: MQClientAPI
    let logger: Logger
    let clientId: String
    let ids: MessageIDGenerator
    let routes = Mutex<[String: TopicPublishInfo]>([:])
    let faults: Mutex<LatencyFaultStrategy>
    let heartbeated = Mutex<Set<String>>([])
    /// Topics whose route is being re-read after a failed send.
    let refreshing = Mutex<Set<String>>([])
    let roundRobin = Atomic<Int>(0)
    let inflight: AsyncPermits
    let background = Mutex<Task<Void, Never>?>(nil)

    public init(
        group: String, namesrvAddr: String, options: ProducerOptions = ProducerOptions(),
        logger: Logger = Logger(label: "rocketmq.producer")
    ) {
        self.group = group
        self.options = options
        self.logger = logger
        api = MQClientAPI(namesrvAddr: namesrvAddr, logger: logger, serializeType: options.serializeType)
        clientId = "127.0.0.1@\(options.instanceName)"
        ids = MessageIDGenerator(ip: [127, 0, 0, 1])
        inflight = AsyncPermits(options.maxInflightAsyncSends)
        faults = Mutex(LatencyFaultStrategy(isolationMillis: options.brokerIsolationMillis))
    }

    /// Starts the route poll and broker heartbeats. Like RocketMQ's producer it learns the
    /// brokers of the default topic (TBW102) first and greets them, so a broker can reach this
    /// group (transaction checks) before it sends anything.
    public func start() async {
        _ = try? await publishInfo(SystemTopics.autoCreateTopicKey)
        let task = Task { [self] in
            var sinceHeartbeat = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(options.pollNameServerIntervalMillis))
                if Task.isCancelled { return }
                await refreshAllRoutes()
                sinceHeartbeat += options.pollNameServerIntervalMillis
                if sinceHeartbeat >= options.heartbeatBrokerIntervalMillis {
                    sinceHeartbeat = 0
                    await heartbeat()
                }
            }
        }
        background.withLock { $0 = task }
    }

    /// Unregisters from the brokers and closes connections.
    public func shutdown() async {
        background.withLock { $0 }?.cancel()
        let request = RemotingCommand.request(
            code: RequestCode.unregisterClient,
            fields: ["clientID": clientId, "producerGroup": group, "consumerGroup": ""])
        for address in knownBrokers { _ = try? await api.invoke(address, request, timeoutMillis: 1000) }
        await api.shutdown()
    }

    // MARK: sends

    public func send(_ message: Message) async throws -> SendResult {
        try await send(message, retries: options.retryTimesWhenSendFailed) { info, avoid in
            self.selectQueue(info, avoiding: avoid)
        }
    }

    /// Orderly: every message with the same key goes to the same queue (hash of the key).
    public func send(_ message: Message, shardingKey: String) async throws -> SendResult {
        try await send(message, retries: 0) { info, _ in
            guard !info.queues.isEmpty else { return nil }
            let hash = Int(TagHash.code(shardingKey) & Int64(Int32.max))
            return info.queues[hash % info.queues.count]
        }
    }

    /// Sends through a queue the caller picks.
    public func send(_ message: Message, selector: @escaping @Sendable ([MessageQueue]) -> MessageQueue) async throws
        -> SendResult
    {
        try await send(message, retries: 0) { info, _ in info.queues.isEmpty ? nil : selector(info.queues) }
    }

    /// Fire and forget: no retries, no result.
    public func sendOneway(_ message: Message) async throws {
        let info = try await publishInfo(message.topic)
        guard let queue = selectQueue(info, avoiding: nil), let address = info.masterAddress(of: queue.brokerName)
        else {
            throw ClientError.noRoute(topic: message.topic)
        }
        let (request, _) = try prepare(message, queue: queue)
        try await api.invokeOneway(address, request)
    }

    /// Sends without waiting; `completion` gets the outcome. At most `maxInflightAsyncSends` are in
    /// flight: beyond that this call waits for a slot. No retries (as RocketMQ's async send to
    /// one queue); a failure refreshes the topic's route.
    ///
    /// `completion` may run on the connection's I/O thread: it must not block.
    public func sendAsync(_ message: Message, completion: @escaping @Sendable (Result<SendResult, any Error>) -> Void)
        async
    {
        await inflight.acquire()
        // With a cached route and an open connection the request goes out from here and its
        // response is handled on the event loop: no task per message.
        if let cached = routes.withLock({ $0[message.topic] }), let queue = selectQueue(cached, avoiding: nil),
            let address = cached.masterAddress(of: queue.brokerName),
            let connection = api.establishedConnection(to: address)
        {
            let started = currentTimeMillis()
            let request: RemotingCommand
            let uniqueKey: String
            do {
                try validate(message)
                (request, uniqueKey) = try prepare(message, queue: queue)
            } catch {
                inflight.release()
                completion(.failure(error))
                return
            }
            connection.invoke(request, timeoutMillis: options.sendMsgTimeoutMillis) { [self] outcome in
                defer { inflight.release() }
                let result = Result {
                    try sendResult(outcome.get(), message: message, queue: queue, uniqueKey: uniqueKey)
                }
                record(queue.brokerName, started: started, failed: (try? result.get()) == nil)
                if case .failure = result { refreshRouteSoon(message.topic) }
                completion(result)
            }
            return
        }
        Task { [self] in
            defer { inflight.release() }
            do {
                completion(
                    .success(
                        try await send(message, retries: 0) { info, avoid in self.selectQueue(info, avoiding: avoid) }))
            } catch {
                completion(.failure(error))
            }
        }
    }

    /// One request carrying several messages of one topic, stored with consecutive queue offsets.
    public func sendBatch(_ messages: [Message]) async throws -> SendResult {
        guard let topic = messages.first?.topic, messages.allSatisfy({ $0.topic == topic }) else {
            throw ClientError.illegalMessage("a batch needs messages, all of one topic")
        }
        let batched = messages.map { message in
            var properties = message.properties
            properties[MessageConst.uniqueKey] = ids.next()
            return BatchedMessage(flag: message.flag, body: message.body, properties: properties)
        }
        let body = BatchedMessage.encodeBatch(batched)
        let carrier = Message(topic: topic, body: body)
        return try await send(carrier, retries: options.retryTimesWhenSendFailed, batch: true) { info, avoid in
            self.selectQueue(info, avoiding: avoid)
        }
    }

    // MARK: internals

    func send(
        _ message: Message, retries: Int, batch: Bool = false,
        select: @escaping @Sendable (TopicPublishInfo, String?) -> MessageQueue?
    ) async throws -> SendResult {
        try validate(message)
        var lastError: any Error = ClientError.noRoute(topic: message.topic)
        var avoid: String?
        var failedAddress: String?
        for attempt in 0...retries {
            var info = try await publishInfo(message.topic, refresh: attempt > 0)
            guard var queue = select(info, avoid), var address = info.masterAddress(of: queue.brokerName) else {
                throw ClientError.noRoute(topic: message.topic)
            }
            if address == failedAddress {
                // No other broker takes it: wait for the group to name a new master (a DLedger
                // group fails over in well under a second), then send there.
                info = await routeNamingANewMaster(for: message.topic, broker: queue.brokerName, not: address) ?? info
                guard let again = select(info, avoid), let newAddress = info.masterAddress(of: again.brokerName) else {
                    throw ClientError.noRoute(topic: message.topic)
                }
                (queue, address) = (again, newAddress)
            }
            let started = currentTimeMillis()
            do {
                let (request, uniqueKey) = try prepare(message, queue: queue, batch: batch)
                let response = try await api.invoke(address, request, timeoutMillis: options.sendMsgTimeoutMillis)
                let result = try sendResult(response, message: message, queue: queue, uniqueKey: uniqueKey)
                record(queue.brokerName, started: started, failed: false)
                return result
            } catch {
                lastError = error
                avoid = queue.brokerName
                failedAddress = address
                record(queue.brokerName, started: started, failed: true)
                logger.debug("send to \(queue) at \(address) failed (attempt \(attempt + 1)): \(error)")
                if attempt == retries {
                    // The route may be stale (a broker died or lost mastership): refresh it now.
                    refreshRouteSoon(message.topic)
                }
                if case ClientError.broker(let code, _) = error, code != ResponseCode.serviceNotAvailable,
                    code != ResponseCode.systemBusy, code != ResponseCode.systemError,
                    code != ResponseCode.topicNotExist
                {
                    throw error  // the message itself is refused: another broker would refuse it too
                }
            }
        }
        throw lastError
    }

    /// Refreshes `topic`'s route until `broker`'s master is no longer `address` (at most
    /// `failoverWaitMillis`); nil when it did not change in time.
    func routeNamingANewMaster(for topic: String, broker: String, not address: String) async -> TopicPublishInfo? {
        let deadline = ContinuousClock.now + .milliseconds(options.failoverWaitMillis)
        while ContinuousClock.now < deadline {
            do {
                let info = try await publishInfo(topic, refresh: true)
                if let master = info.masterAddress(of: broker), master != address { return info }
            } catch {
                logger.debug("refreshing the route of \(topic) failed: \(error)")
            }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return nil
    }

    func validate(_ message: Message) throws {
        if let problem = SystemTopics.validate(message.topic) { throw ClientError.illegalMessage(problem) }
        guard !message.body.isEmpty, message.body.count <= options.maxMessageSize else {
            throw ClientError.illegalMessage("body size \(message.body.count) not in 1...\(options.maxMessageSize)")
        }
    }

    /// The outcome a broker's answer to a send means.
    func sendResult(_ response: RemotingCommand, message: Message, queue: MessageQueue, uniqueKey: String) throws
        -> SendResult
    {
        let status: SendStatus
        switch response.code {
        case ResponseCode.success: status = .sendOK
        case ResponseCode.flushDiskTimeout: status = .flushDiskTimeout
        case ResponseCode.flushSlaveTimeout: status = .flushSlaveTimeout
        case ResponseCode.slaveNotAvailable: status = .slaveNotAvailable
        default: throw ClientError.broker(code: response.code, remark: response.remark ?? "")
        }
        return SendResult(
            status: status, msgId: uniqueKey, offsetMsgId: response.extFields["msgId"] ?? "",
            messageQueue: MessageQueue(
                topic: message.topic, brokerName: queue.brokerName,
                queueId: Int32(response.extFields["queueId"] ?? "") ?? queue.queueId),
            queueOffset: Int64(response.extFields["queueOffset"] ?? "") ?? -1)
    }

    /// Feeds the fault strategy with how a send to `broker` went.
    func record(_ broker: String, started: Int64, failed: Bool) {
        let now = currentTimeMillis()
        faults.withLock { $0.record(broker: broker, latencyMillis: now - started, failed: failed, now: now) }
    }

    /// The SEND_MESSAGE_V2 (or SEND_BATCH_MESSAGE) request, and the message's unique id.
    func prepare(_ message: Message, queue: MessageQueue, batch: Bool = false) throws -> (RemotingCommand, String) {
        var properties = message.properties
        let uniqueKey = properties[MessageConst.uniqueKey] ?? ids.next()
        if !batch { properties[MessageConst.uniqueKey] = uniqueKey }
        properties[MessageConst.wait] = "true"
        var sysFlag: Int32 = 0
        if properties[MessageConst.transactionPrepared] == "true" {
            sysFlag |= MessageSysFlag.transactionPreparedType
        }
        var body = message.body
        if !batch, body.count >= options.compressMsgBodyOverHowmuch {
            body = Zlib.compress(body)
            sysFlag |= MessageSysFlag.compressed
        }
        let fields: [String: String] = [
            "a": group, "b": message.topic, "c": SystemTopics.autoCreateTopicKey, "d": "4", "e": String(queue.queueId),
            "f": String(sysFlag), "g": String(currentTimeMillis()), "h": String(message.flag),
            "i": MessageProperties.encode(properties), "j": "0", "k": "false", "m": String(batch),
        ]
        let code = batch ? RequestCode.sendBatchMessage : RequestCode.sendMessageV2
        return (RemotingCommand.request(code: code, fields: fields, body: body), uniqueKey)
    }

    /// Round robin over the queues, skipping `avoiding` and recently failed brokers when others exist.
    func selectQueue(_ info: TopicPublishInfo, avoiding: String?) -> MessageQueue? {
        guard !info.queues.isEmpty else { return nil }
        let now = currentTimeMillis()
        let faults = self.faults.withLock { $0 }
        let start = roundRobin.add(1, ordering: .relaxed).newValue
        for step in 0..<info.queues.count {
            let queue = info.queues[(start + step) % info.queues.count]
            if queue.brokerName != avoiding, faults.isAvailable(queue.brokerName, now: now) { return queue }
        }
        return info.queues[start % info.queues.count]
    }

    /// The cached route, fetched (or refreshed) from the NameServers when needed. An unknown topic
    /// uses TBW102's brokers so the broker can create it (auto-creation).
    func publishInfo(_ topic: String, refresh: Bool = false) async throws -> TopicPublishInfo {
        if !refresh, let cached = routes.withLock({ $0[topic] }), !cached.queues.isEmpty { return cached }
        if let route = try await api.topicRoute(topic) {
            let info = TopicPublishInfo(topic: topic, route: route)
            routes.withLock { $0[topic] = info }
            await heartbeat(onlyNew: true)
            return info
        }
        if let cached = routes.withLock({ $0[topic] }) { return cached }
        guard let template = try await api.topicRoute(SystemTopics.autoCreateTopicKey) else {
            throw ClientError.noRoute(topic: topic)
        }
        var info = TopicPublishInfo(topic: topic, route: template)
        info.queues = info.queues.filter { $0.queueId < 4 }
        return info
    }

    /// Re-reads `topic`'s route in the background, once at a time however many sends failed.
    func refreshRouteSoon(_ topic: String) {
        guard refreshing.withLock({ $0.insert(topic).inserted }) else { return }
        Task {
            _ = try? await publishInfo(topic, refresh: true)
            refreshing.withLock { _ = $0.remove(topic) }
        }
    }

    func refreshAllRoutes() async {
        for topic in routes.withLock({ Array($0.keys) }) { _ = try? await publishInfo(topic, refresh: true) }
    }

    /// The master address of a broker group, from any cached route.
    func masterAddress(of brokerName: String) -> String? {
        routes.withLock { routes in routes.values.lazy.compactMap { $0.masterAddress(of: brokerName) }.first }
    }

    var knownBrokers: Set<String> {
        Set(routes.withLock { $0.values.flatMap(\.brokerAddresses) })
    }

    /// HEART_BEAT to the known brokers (only those not yet greeted when `onlyNew`): a broker
    /// learns this producer group's connection, which it needs to check transactions.
    func heartbeat(onlyNew: Bool = false) async {
        let targets = heartbeated.withLock { done in
            let targets = onlyNew ? knownBrokers.subtracting(done) : knownBrokers
            done.formUnion(targets)
            return targets
        }
        let body = HeartbeatData(clientID: clientId, producerGroups: [group], consumers: []).json.serializedBytes()
        for address in targets.sorted() {
            _ = try? await api.invoke(address, .request(code: RequestCode.heartBeat, body: body), timeoutMillis: 3000)
        }
    }
}

/// A counting semaphore for async code.
final class AsyncPermits: Sendable {
    struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(available: count)) }

    func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume()
    }
}
