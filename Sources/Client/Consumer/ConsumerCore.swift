import Common
import Logging
import NIOCore
import Remoting
import Synchronization

/// What a consumer does with pulled messages: the push consumer's consume services and the lite
/// pull consumer's buffer.
protocol MessageSink: Sendable {
    /// Orderly consumption in clustering mode: queues are locked on the broker before pulling.
    var requiresQueueLocks: Bool { get }
    func queueAdded(_ queue: ProcessQueue)
    func delivered(_ messages: [MessageExt], from queue: ProcessQueue)
    /// The queue was dropped; returns once nothing consumes it any more.
    func queueRemoved(_ queue: ProcessQueue) async
}

/// The machinery every consumer shares (`RebalanceImpl`, `PullAPIWrapper`, offset stores):
/// subscriptions, routes, heartbeats, queue allocation, one long-polling pull loop per owned
/// queue, offsets and queue locks.
final class ConsumerCore: Sendable {
    let group: String
    let options: ConsumerOptions
    let consumeType: ConsumeType
    let api: MQClientAPI
    let logger: Logger
    let clientId: String
    let offsets: any OffsetStore
    let subscriptions = Mutex<[String: SubscriptionData]>([:])
    let routeTable = RouteTable()
    let processQueues = Mutex<[MessageQueue: ProcessQueue]>([:])
    let sink = Mutex<(any MessageSink)?>(nil)
    let tasks = Mutex<[Task<Void, Never>]>([])
    let rebalanceRequests: AsyncStream<Void>.Continuation
    let rebalanceStream: Mutex<AsyncStream<Void>?>
    /// Assigned queues (lite pull `assign`): no rebalance.
    let assigned = Mutex<[MessageQueue]?>(nil)
    let stopped = Atomic<Bool>(false)

    init(group: String, namesrvAddr: String, options: ConsumerOptions, consumeType: ConsumeType, logger: Logger) throws
    {
        self.group = group
        self.options = options
        self.consumeType = consumeType
        self.logger = logger
        let api = MQClientAPI(namesrvAddr: namesrvAddr, logger: logger, serializeType: options.serializeType)
        self.api = api
        clientId = "127.0.0.1@\(options.instanceName)"
        let routeTable = self.routeTable
        // Offsets go to the master, or to a slave while the master is away (which hands them on).
        let offsetAddress: @Sendable (String) -> String? = { routeTable.address(of: $0) }
        switch options.messageModel {
        case .clustering:
            offsets = RemoteOffsetStore(group: group, api: api, logger: logger, address: offsetAddress)
        case .broadcasting:
            offsets = try LocalFileOffsetStore(
                directory: options.offsetStoreDir, clientId: clientId, group: group, logger: logger)
        }
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        rebalanceRequests = continuation
        rebalanceStream = Mutex(stream)
    }

    func subscribe(_ topic: String, expression: String) {
        subscriptions.withLock {
            $0[topic] = SubscriptionData(topic: topic, subString: expression, subVersion: currentTimeMillis())
        }
    }

    func masterAddress(of brokerName: String) -> String? { routeTable.masterAddress(of: brokerName) }

    // MARK: lifecycle

    func start(sink: any MessageSink) async throws {
        self.sink.withLock { $0 = sink }
        if options.messageModel == .clustering, assigned.withLock({ $0 }) == nil {
            subscribe(SystemTopics.retryTopic(for: group), expression: "*")
        }
        api.onRequest(RequestCode.notifyConsumerIdsChanged) { [weak self] _, _ in
            self?.requestRebalance()
            return nil
        }
        api.onRequest(RequestCode.resetConsumerClientOffset) { [weak self] request, _ in
            await self?.resetOffsets(request)
            return nil
        }
        await refreshRoutes()
        if routeTable.routes.withLock({ $0.isEmpty }) {
            // Like RocketMQ: start anyway; queues are taken once the topics exist.
            let topics = subscriptions.withLock { $0.keys.sorted() }.joined(separator: ", ")
            logger.warning("no route yet for \(topics); the consumer waits for the topics to appear")
        }
        await heartbeat()
        await rebalance()
        let stream = rebalanceStream.withLock { $0 }!
        let loops: [Task<Void, Never>] = [
            Task { [self] in
                for await _ in stream {
                    if stopped.load(ordering: .relaxed) { return }
                    await rebalance()
                }
            },
            every(options.rebalanceIntervalMillis) { $0.requestRebalance() },
            every(options.persistConsumerOffsetIntervalMillis) { await $0.persistOffsets() },
            every(options.pollNameServerIntervalMillis) { await $0.refreshRoutes() },
            every(options.heartbeatBrokerIntervalMillis) { await $0.heartbeat() },
            every(options.lockRenewIntervalMillis) { await $0.lockAll() },
        ]
        tasks.withLock { $0 += loops }
    }

    private func every(_ millis: Int, _ body: @escaping @Sendable (ConsumerCore) async -> Void) -> Task<Void, Never> {
        Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(millis))
                guard let self, !Task.isCancelled, !self.stopped.load(ordering: .relaxed) else { return }
                await body(self)
            }
        }
    }

    func shutdown() async {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        rebalanceRequests.finish()
        for task in tasks.withLock({ $0 }) { task.cancel() }
        let queues = processQueues.withLock { $0 }
        for queue in queues.values { queue.drop() }
        if let sink = sink.withLock({ $0 }) {
            for queue in queues.values { await sink.queueRemoved(queue) }
        }
        await persistOffsets()
        await unlock(Array(queues.keys))
        let request = RemotingCommand.request(
            code: RequestCode.unregisterClient,
            fields: ["clientID": clientId, "producerGroup": "", "consumerGroup": group])
        for address in brokerAddresses { _ = try? await api.invoke(address, request, timeoutMillis: 1000) }
        sink.withLock { $0 = nil }
        await api.shutdown()
    }

    // MARK: routes and heartbeats

    func refreshRoutes() async {
        var topics = Set(subscriptions.withLock { $0.keys })
        topics.formUnion(assigned.withLock { $0 ?? [] }.map(\.topic))
        for topic in topics.sorted() {
            do {
                if let route = try await api.topicRoute(topic) { routeTable.routes.withLock { $0[topic] = route } }
            } catch {
                logger.debug("route of \(topic) not refreshed: \(error)")
            }
        }
    }

    var brokerAddresses: [String] {
        Set(
            routeTable.routes.withLock { $0.values.flatMap { $0.brokerDatas.flatMap { Array($0.brokerAddrs.values) } } }
        ).sorted()
    }

    func heartbeat() async {
        let consumer = ConsumerData(
            groupName: group, consumeType: consumeType, messageModel: options.messageModel,
            consumeFromWhere: options.consumeFromWhere.wireName,
            subscriptions: subscriptions.withLock { $0.values.sorted { $0.topic < $1.topic } })
        let body = HeartbeatData(clientID: clientId, producerGroups: [], consumers: [consumer]).json.serializedBytes()
        for address in brokerAddresses {
            do {
                _ = try await api.invokeExpectingSuccess(address, .request(code: RequestCode.heartBeat, body: body))
            } catch {
                logger.debug("heartbeat to \(address) failed: \(error)")
            }
        }
    }

    // MARK: rebalance

    func requestRebalance() { rebalanceRequests.yield() }

    /// Readable queues of a topic, sorted.
    func readableQueues(of topic: String) -> [MessageQueue] {
        guard let route = routeTable.routes.withLock({ $0[topic] }) else { return [] }
        var queues: [MessageQueue] = []
        for data in route.queueDatas where Permission.isReadable(data.perm) {
            guard route.brokerDatas.contains(where: { $0.brokerName == data.brokerName && $0.address() != nil })
            else { continue }
            for queueId in 0..<data.readQueueNums {
                queues.append(MessageQueue(topic: topic, brokerName: data.brokerName, queueId: queueId))
            }
        }
        return queues.sorted()
    }

    func consumerIds(of topic: String) async -> [String]? {
        guard let route = routeTable.routes.withLock({ $0[topic] }) else { return nil }
        for address in route.brokerDatas.compactMap(\.masterAddress).shuffled() {
            let request = RemotingCommand.request(
                code: RequestCode.getConsumerListByGroup, fields: ["consumerGroup": group])
            guard let response = try? await api.invokeExpectingSuccess(address, request),
                let ids = try? JSONValue.parse(response.bodyBytes)["consumerIdList"]?.array
            else { continue }
            return ids.compactMap(\.text)
        }
        return nil
    }

    func rebalance() async {
        if let assigned = assigned.withLock({ $0 }) {
            await updateProcessQueues(Set(assigned), topics: Set(assigned.map(\.topic)))
            return
        }
        var target = Set<MessageQueue>()
        var topics = Set<String>()
        for topic in subscriptions.withLock({ $0.keys.sorted() }) {
            let all = readableQueues(of: topic)
            switch options.messageModel {
            case .broadcasting:
                target.formUnion(all)
            case .clustering:
                guard let ids = await consumerIds(of: topic) else {
                    // Keep what we have until the group's membership can be read.
                    target.formUnion(processQueues.withLock { $0.keys.filter { $0.topic == topic } })
                    topics.insert(topic)
                    continue
                }
                target.formUnion(AllocateMessageQueueAveragely.allocate(queues: all, clientIds: ids, me: clientId))
            }
            topics.insert(topic)
        }
        await updateProcessQueues(target, topics: topics)
    }

    /// Drops queues of `topics` no longer in `target` and starts pulling the new ones.
    func updateProcessQueues(_ target: Set<MessageQueue>, topics: Set<String>) async {
        let current = processQueues.withLock { $0 }
        for (queue, processQueue) in current where topics.contains(queue.topic) && !target.contains(queue) {
            await remove(processQueue)
        }
        for queue in target.sorted() where current[queue] == nil {
            do {
                let start = try await startOffset(of: queue)
                add(queue, at: start)
            } catch {
                logger.warning("\(queue) not taken this round: its start offset is unknown: \(error)")
            }
        }
    }

    func add(_ queue: MessageQueue, at offset: Int64) {
        let processQueue = ProcessQueue(queue: queue, nextPullOffset: offset)
        offsets.update(queue, offset, increaseOnly: false)
        processQueues.withLock { $0[queue] = processQueue }
        logger.info("\(group) now consumes \(queue) from offset \(offset)")
        sink.withLock { $0 }?.queueAdded(processQueue)
        let task = Task { [self] in await pullLoop(processQueue) }
        tasks.withLock { $0.append(task) }
    }

    func remove(_ processQueue: ProcessQueue) async {
        let queue = processQueue.queue
        processQueue.drop()
        processQueues.withLock { if $0[queue] === processQueue { $0[queue] = nil } }
        await sink.withLock { $0 }?.queueRemoved(processQueue)
        await persistOffsets([queue])
        offsets.remove(queue)
        await unlock([queue])
        logger.info("\(group) no longer consumes \(queue)")
    }

    /// Where a newly owned queue starts: the stored offset, else the consume-from policy
    /// (`computePullFromWhere`).
    func startOffset(of queue: MessageQueue) async throws -> Int64 {
        if let stored = try await offsets.readFromStore(queue) { return stored }
        let isRetry = queue.topic.hasPrefix(SystemTopics.retryGroupPrefix)
        switch options.consumeFromWhere {
        case .firstOffset: return 0
        case .lastOffset: return isRetry ? 0 : try await queueOffset(RequestCode.getMaxOffset, queue)
        case .timestamp(let millis):
            return isRetry
                ? try await queueOffset(RequestCode.getMaxOffset, queue)
                : try await queueOffset(RequestCode.searchOffsetByTimestamp, queue, timestamp: millis)
        }
    }

    func queueOffset(_ code: Int32, _ queue: MessageQueue, timestamp: Int64? = nil) async throws -> Int64 {
        guard let address = routeTable.address(of: queue.brokerName) else {
            throw ClientError.noRoute(topic: queue.topic)
        }
        var fields = ["topic": queue.topic, "queueId": String(queue.queueId)]
        if let timestamp { fields["timestamp"] = String(timestamp) }
        let response = try await api.invokeExpectingSuccess(address, .request(code: code, fields: fields))
        return Int64(response.extFields["offset"] ?? "") ?? 0
    }

    // MARK: pulling

    func pullLoop(_ processQueue: ProcessQueue) async {
        let queue = processQueue.queue
        let pause = Duration.milliseconds(options.pullTimeDelayMillisWhenException)
        var lockedBefore = false
        while !processQueue.isDropped, !stopped.load(ordering: .relaxed) {
            guard let sink = sink.withLock({ $0 }) else { return }
            if sink.requiresQueueLocks {
                if !processQueue.holdsLock(now: currentTimeMillis(), maxAgeMillis: 30_000) {
                    guard await lock([queue]).contains(queue) else {
                        try? await Task.sleep(for: pause)
                        continue
                    }
                }
                if !lockedBefore {
                    // The previous owner may have committed since: start from the stored offset.
                    lockedBefore = true
                    if let start = try? await startOffset(of: queue) { processQueue.nextPullOffset = start }
                }
            }
            if processQueue.cachedCount >= options.pullThresholdForQueue {
                try? await Task.sleep(for: .milliseconds(50))  // flow control
                continue
            }
            do {
                try await pullOnce(processQueue, sink: sink)
            } catch {
                if processQueue.isDropped { return }
                logger.debug("pull of \(queue) failed: \(error)")
                await refreshRoutes()  // the broker may have died or lost mastership
                try? await Task.sleep(for: pause)
            }
        }
    }

    func pullOnce(_ processQueue: ProcessQueue, sink: any MessageSink) async throws {
        let queue = processQueue.queue
        // The broker the last response suggested (a slave for a consumer reading cold data,
        // with slaveReadEnable), else the master, else a slave while the master is away.
        guard let address = routeTable.address(of: queue.brokerName, preferring: processQueue.suggestedBrokerId) else {
            throw ClientError.noRoute(topic: queue.topic)
        }
        let subscription = subscriptions.withLock { $0[queue.topic] }
        let offset = processQueue.nextPullOffset
        let commitOffset = options.messageModel == .clustering ? offsets.read(queue) ?? 0 : 0
        var flags = PullSysFlag.suspend | PullSysFlag.subscription
        if commitOffset > 0 { flags |= PullSysFlag.commitOffset }
        let fields = [
            "consumerGroup": group, "topic": queue.topic, "queueId": String(queue.queueId),
            "queueOffset": String(offset), "maxMsgNums": String(options.pullBatchSize), "sysFlag": String(flags),
            "commitOffset": String(commitOffset), "suspendTimeoutMillis": String(options.brokerSuspendMaxTimeMillis),
            "subscription": subscription?.subString ?? "*", "subVersion": String(subscription?.subVersion ?? 0),
            "expressionType": "TAG",
        ]
        let response = try await api.invoke(
            address, .request(code: RequestCode.pullMessage, fields: fields),
            timeoutMillis: Int64(options.brokerSuspendMaxTimeMillis) + 5000)
        let next = Int64(response.extFields["nextBeginOffset"] ?? "") ?? offset
        if let suggested = response.extFields["suggestWhichBrokerId"].flatMap({ Int64($0) }), suggested >= 0 {
            processQueue.suggestedBrokerId = suggested
        }
        switch response.code {
        case ResponseCode.success:
            let expression = subscription?.expression ?? SubscriptionExpression("*")
            let messages = try StoredMessageCodec.decodeAll(response.body ?? ByteBuffer()).filter {
                expression.matches(tag: $0.tags)
            }.map { $0.inflated() }
            guard !processQueue.isDropped else { return }
            processQueue.nextPullOffset = next
            if messages.isEmpty {
                if let commit = processQueue.finish([]) { offsets.update(queue, commit, increaseOnly: true) }
            } else {
                processQueue.put(messages)
                sink.delivered(messages, from: processQueue)
            }
        case ResponseCode.pullNotFound, ResponseCode.pullRetryImmediately:
            processQueue.nextPullOffset = next
        case ResponseCode.pullOffsetMoved:
            logger.warning("offset \(offset) of \(queue) is out of range; moving to \(next)")
            processQueue.nextPullOffset = next
            offsets.update(queue, next, increaseOnly: false)
            await persistOffsets([queue])
        default:
            throw ClientError.broker(code: response.code, remark: response.remark ?? "")
        }
    }

    // MARK: offsets

    /// Records consumption progress of a queue still owned.
    func consumed(_ processQueue: ProcessQueue, offsets consumedOffsets: [Int64]) {
        guard let commit = processQueue.finish(consumedOffsets), !processQueue.isDropped else { return }
        offsets.update(processQueue.queue, commit, increaseOnly: true)
    }

    func persistOffsets(_ queues: [MessageQueue]? = nil) async {
        await offsets.persist(queues ?? processQueues.withLock { Array($0.keys) })
    }

    /// RESET_CONSUMER_CLIENT_OFFSET: the listed queues restart from the given offsets.
    func resetOffsets(_ request: RemotingCommand) async {
        guard request.optionalString("group") == group,
            let body = try? JSONValue.parse(request.bodyBytes)
        else { return }
        var table: [MessageQueue: Int64] = [:]
        switch body["offsetTable"] {
        case .array(let entries):  // the form brokers send C++ clients
            for entry in entries {
                if let queue = MessageQueue(json: entry), let offset = entry["offset"]?.int64 { table[queue] = offset }
            }
        case .object(let entries):  // fastjson map with MessageQueue keys
            for (key, offset) in entries {
                if let json = try? JSONValue.parse(key), let queue = MessageQueue(json: json), let offset = offset.int64
                {
                    table[queue] = offset
                }
            }
        default: break
        }
        logger.info("broker reset \(table.count) offsets of \(group)")
        for (queue, offset) in table.sorted(by: { $0.key < $1.key }) { await seek(queue, to: offset) }
    }

    /// Restarts a queue at `offset`, discarding what was pulled but not consumed.
    func seek(_ queue: MessageQueue, to offset: Int64) async {
        offsets.update(queue, offset, increaseOnly: false)
        await offsets.persist([queue])
        guard let old = processQueues.withLock({ $0[queue] }) else { return }
        old.drop()
        processQueues.withLock { if $0[queue] === old { $0[queue] = nil } }
        await sink.withLock { $0 }?.queueRemoved(old)
        add(queue, at: offset)
    }

    // MARK: queue locks

    /// LOCK_BATCH_MQ on each queue's master; returns the queues granted.
    @discardableResult
    func lock(_ queues: [MessageQueue]) async -> Set<MessageQueue> {
        var granted = Set<MessageQueue>()
        for (brokerName, group) in Dictionary(grouping: queues, by: \.brokerName) {
            guard let address = masterAddress(of: brokerName) else { continue }
            let body = LockBatchRequestBody(consumerGroup: self.group, clientId: clientId, mqSet: group.sorted())
            let request = RemotingCommand.request(code: RequestCode.lockBatchMQ, body: body.json.serializedBytes())
            guard let response = try? await api.invokeExpectingSuccess(address, request),
                let locked = try? JSONValue.parse(response.bodyBytes)["lockOKMQSet"]?.array
            else { continue }
            granted.formUnion(locked.compactMap(MessageQueue.init(json:)))
        }
        let now = currentTimeMillis()
        let owned = processQueues.withLock { $0 }
        for queue in queues { owned[queue]?.setLocked(granted.contains(queue), now: now) }
        return granted
    }

    func lockAll() async {
        guard sink.withLock({ $0 })?.requiresQueueLocks == true else { return }
        await lock(processQueues.withLock { Array($0.keys) })
    }

    func unlock(_ queues: [MessageQueue]) async {
        guard sink.withLock({ $0 })?.requiresQueueLocks == true, !queues.isEmpty else { return }
        for (brokerName, group) in Dictionary(grouping: queues, by: \.brokerName) {
            guard let address = masterAddress(of: brokerName) else { continue }
            let body = LockBatchRequestBody(consumerGroup: self.group, clientId: clientId, mqSet: group.sorted())
            _ = try? await api.invoke(
                address, .request(code: RequestCode.unlockBatchMQ, body: body.json.serializedBytes()),
                timeoutMillis: 1000)
        }
    }
}
