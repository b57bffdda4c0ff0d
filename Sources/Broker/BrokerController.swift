import Common
import DLedgerStore
import Logging
import NIOCore
import Remoting
import ServiceLifecycle
import Synchronization

/// The broker process: store, managers, processors, NameServer registration and housekeeping.
public final class BrokerController: Service, RemotingRequestHandler {
    public let config: BrokerConfig
    let logger: Logger
    public let store: MessageStore
    let topics: TopicConfigManager
    let subscriptionGroups: SubscriptionGroupManager
    let consumerOffsets: ConsumerOffsetManager
    let consumers = ConsumerManager()
    let producers = ProducerManager()
    let locks: Mutex<RebalanceLockManager>
    let pullHold: PullRequestHoldService
    let schedule: ScheduleMessageService
    let nameServers: NameServerRegistration
    /// The live role (fixed from the config, or set by Raft in DLedger mode).
    public let role: BrokerRoleState
    let bootTimestamp = currentTimeMillis()
    let stats = BrokerStats()
    private let server: Mutex<RemotingServer?> = Mutex(nil)
    private let shuttingDown = Atomic<Bool>(false)
    /// DLedger mode: the member states Raft reports, applied one at a time by `runRoleChanges`.
    let memberStates: AsyncStream<DLedgerMemberState>
    let memberStatesInput: AsyncStream<DLedgerMemberState>.Continuation
    /// DLedger mode: the master's address as last looked up, and when (`forwardToMaster`).
    /// The master writes are forwarded to, when it was looked up, and in which term of ours.
    let knownMaster = Mutex<(address: String, at: ContinuousClock.Instant, term: UInt64)?>(nil)
    let lastForwardMillis = Atomic<Int64>(0)
    let replicationTasks = Mutex<[Task<Void, Never>]>([])
    /// Master/slave HA: the master's service (SYNC_MASTER and ASYNC_MASTER), the slave's client.
    let haService: HAService?
    let haClient: HAClient?

    public init(config: BrokerConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        let hold = PullRequestHoldService()
        pullHold = hold
        let dledger = try config.dLedgerConfig.map { try DLedgerServer(config: $0, logger: logger) }
        let acknowledgements =
            config.isClassicMaster
            ? SlaveAcknowledgements(
                fallBehindMax: config.haSlaveFallbehindMax, timeout: .milliseconds(config.syncFlushTimeout)) : nil
        let store = MessageStore(
            config: config.storeConfig, logger: logger, replicatedLog: dledger,
            slaveAcknowledgements: config.brokerRole == .syncMaster ? acknowledgements : nil
        ) { keys in
            hold.notify(keys)
        }
        self.store = store
        try Directories.create(config.configDirectory)
        topics = try TopicConfigManager(config: config, logger: logger)
        subscriptionGroups = try SubscriptionGroupManager(config: config, logger: logger)
        consumerOffsets = try ConsumerOffsetManager(config: config, logger: logger)
        locks = Mutex(RebalanceLockManager(lockMaxLiveMillis: Int64(config.rebalanceLockMaxLiveTime)))
        schedule = try ScheduleMessageService(store: store, config: config, logger: logger)
        // DLedger mode: an unregistered slave until Raft says what this broker is (#1464).
        let role = BrokerRoleState(
            dledger == nil
                ? LiveRole(role: config.brokerRole, brokerId: config.brokerId)
                : LiveRole(role: .slave, brokerId: config.dLegerSlaveBrokerId, registers: false))
        self.role = role
        (memberStates, memberStatesInput) = AsyncStream.makeStream(
            of: DLedgerMemberState.self, bufferingPolicy: .bufferingNewest(1))
        let nameServers = NameServerRegistration(config: config, role: role, logger: logger)
        self.nameServers = nameServers
        haService = acknowledgements.map {
            HAService(
                settings: .init(config, port: config.haListenPort), store: store, acknowledgements: $0, logger: logger)
        }
        haClient =
            config.isClassicSlave
            ? HAClient(store: store, config: config, logger: logger) {
                nameServers.namedMaster.withLock { $0?.haAddress }
            }
            : nil
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }

    /// Recovers the store and starts serving; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        logger.info(
            "store at \(config.storePathRootDir), CommitLog at \(config.storePathCommitLog) (storePathRootDir, storePathCommitLog)"
        )
        if let dledger = store.replicatedLog {
            let input = memberStatesInput
            dledger.onStateChange { input.yield($0) }
            try await dledger.start()
        }
        try store.start()
        if store.replicatedLog != nil {
            // Dispatch and role changes outlive the other services: a stopping leader hands
            // over and then forwards writes as a slave until clients have moved on.
            let tasks = [Task { await self.store.runReput() }, Task { await self.runRoleChanges() }]
            replicationTasks.withLock { $0 = tasks }
        }
        CleanService(config: config, store: store, logger: logger).run()
        try await haService?.start()
        let server = RemotingServer(
            host: config.bindAddress, port: config.listenPort, limits: config.limits, handler: self,
            logger: logger)
        let port = try await server.start()
        self.server.withLock { $0 = server }
        logger.info(
            "The broker[\(config.brokerName), \(config.brokerAddr)] boot success. serializeType=JSON and name server is \(config.namesrvAddr.joined(separator: ";"))"
        )
        await nameServers.registerAll(topics.registerBody)
        return port
    }

    public func run() async throws {
        try await start()
        do {
            // Until a graceful shutdown is asked for, or a slave's log turns out not to be a copy
            // of its master's (HAClient throws): either ends the other tasks.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await self.runServices() }
                if let haClient { group.addTask { try await haClient.run() } }
                group.addTask { try? await gracefulShutdown() }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await shutdown()
            throw error
        }
        await shutdown()
    }

    /// The periodic services (flush, registration, offsets, long polling, delay levels, client
    /// expiry, transaction checks, retention) until the task is cancelled.
    public func runServices() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.store.runFlushLoop() }
            if store.replicatedLog != nil {
                group.addTask { await Self.every(millis: 1000) { await self.mirrorMasterMetadata() } }
            } else if config.isClassicSlave {
                group.addTask { await Self.every(millis: 3000) { await self.mirrorMasterMetadata() } }
            }
            group.addTask {
                await CommitLogScrubber(bytesPerSecond: self.config.commitLogScrubBytesPerSecond).run(store: self.store)
            }
            group.addTask {
                await Self.every(millis: self.config.registerNameServerPeriod) {
                    await self.nameServers.registerAll(self.topics.registerBody)
                }
            }
            group.addTask {
                await Self.every(millis: self.config.flushConsumerOffsetInterval) {
                    self.consumerOffsets.persistIfDirty()
                    self.schedule.persist()
                }
            }
            group.addTask { await Self.every(millis: 100) { self.pullHold.expire(now: currentTimeMillis()) } }
            group.addTask {
                await Self.every(millis: 100) {
                    if self.role.isMaster { await self.schedule.deliverDueMessages(now: currentTimeMillis()) }
                }
            }
            group.addTask { await Self.every(millis: 10_000) { self.scanNotActiveClients() } }
            group.addTask {
                let transactions = TransactionalMessageService(broker: self)
                await Self.every(millis: self.config.transactionCheckInterval) {
                    if self.role.isMaster { await transactions.checkRound(now: currentTimeMillis()) }
                }
            }
            group.addTask {
                let clean = CleanService(config: self.config, store: self.store, logger: self.logger)
                await Self.every(millis: self.config.cleanResourceInterval) { clean.run() }
            }
        }
    }

    /// Graceful stop: unregister, answer held pulls, persist offsets, flush the store.
    public func shutdown() async {
        guard !shuttingDown.exchange(true, ordering: .relaxed) else { return }
        if let dledger = store.replicatedLog, dledger.state.role == .leader {
            // A rolling restart fails no send: an up-to-date follower takes over first.
            let handedOver = await dledger.transferLeadership(timeout: .seconds(3))
            logger.info(
                handedOver ? "leadership handed over before stopping" : "leadership transfer timed out; stopping anyway"
            )
            if handedOver { await drainForwardedWrites() }
        }
        memberStatesInput.finish()
        pullHold.stop()
        await nameServers.unregisterAll()
        await haService?.shutdown()
        let server = self.server.withLock { $0 }
        await server?.shutdown()
        await nameServers.shutdown()
        consumerOffsets.persistIfDirty()
        schedule.persist()
        for task in replicationTasks.withLock({ $0 }) { task.cancel() }
        store.shutdown()
        await store.replicatedLog?.shutdown()
        logger.info("broker \(config.brokerName) stopped")
    }

    static func every(millis: Int, _ body: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(millis))
            if Task.isCancelled { return }
            await body()
        }
    }

    /// A topic was created or changed: register before answering, as Java's `registerBrokerAll`
    /// does, so the route exists by the time the client hears back.
    func registerWithNameServers() async {
        await nameServers.registerAll(topics.registerBody)
    }

    func scanNotActiveClients() {
        let now = currentTimeMillis()
        let timeout = Int64(config.channelExpiredTimeout)
        for group in consumers.scanNotActive(now: now, timeoutMillis: timeout) {
            logger.warning("consumer of group \(group) expired: no heartbeat for \(timeout) ms")
            notifyConsumerIdsChanged(group)
        }
        producers.scanNotActive(now: now, timeoutMillis: timeout)
    }

    /// NOTIFY_CONSUMER_IDS_CHANGED (one-way) to every member of the group.
    func notifyConsumerIdsChanged(_ group: String) {
        guard subscriptionGroups.findOrCreate(group)?.notifyConsumerIdsChangedEnable ?? true,
            let info = consumers.group(group)
        else { return }
        let notice = RemotingCommand.request(
            code: RequestCode.notifyConsumerIdsChanged, fields: ["consumerGroup": group])
        for client in info.clients.values { client.connection.sendOneway(notice) }
    }

    /// Parks a delayed message in SCHEDULE_TOPIC_XXXX (level clamped to the table).
    func applyDelayLevel(_ message: MessageExt) -> MessageExt {
        let transaction = MessageSysFlag.transactionValue(message.sysFlag)
        guard message.delayLevel > 0,
            transaction == MessageSysFlag.transactionNotType || transaction == MessageSysFlag.transactionCommitType
        else { return message }
        var parked = message
        let level = min(message.delayLevel, config.delayLevelMillis.count)
        parked.properties[MessageConst.delayTimeLevel] = String(level)
        parked.properties[MessageConst.realTopic] = message.topic
        parked.properties[MessageConst.realQueueId] = String(message.queueId)
        parked.topic = SystemTopics.schedule
        parked.queueId = Int32(level - 1)
        return parked
    }

    // MARK: RemotingRequestHandler

    public func connectionClosed(_ connection: RemotingConnection) {
        for group in consumers.connectionClosed(connection) {
            logger.info("consumer connection \(connection.remoteAddress) of group \(group) closed")
            notifyConsumerIdsChanged(group)
        }
        producers.connectionClosed(connection)
    }

    /// Sends and pulls of known topics (and groups) run on the event loop that read them: their
    /// synchronous part is the store's page-cache write or read under its lock; fsync
    /// (SYNC_FLUSH) runs on the thread pool and held pulls suspend. What may create a topic or a
    /// group (and write its config file), or divert to a dead-letter topic, stays off the loop.
    public func handlesOnEventLoop(_ request: RemotingCommand) -> Bool {
        let fields = request.extFields
        switch request.code {
        case RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendBatchMessage:
            return isKnownTopic(fields[SendMessageRequestHeader.keys(of: request).topic])
        case RequestCode.pullMessage:
            return isKnownTopic(fields["topic"]) && fields["consumerGroup"].map(subscriptionGroups.contains) == true
        default:
            return false
        }
    }

    private func isKnownTopic(_ topic: String?) -> Bool {
        guard let topic, !topic.hasPrefix(SystemTopics.retryGroupPrefix) else { return false }
        return topics.select(topic) != nil
    }

    public func handle(_ request: RemotingCommand, from connection: RemotingConnection) async -> RemotingCommand? {
        logger.trace("request \(request.code) from \(connection.remoteAddress): \(request.extFields)")
        if let problem = Self.nameProblem(in: request) {
            logger.warning("request \(request.code) from \(connection.remoteAddress) refused: \(problem)")
            return request.response(code: ResponseCode.systemError, remark: problem)
        }
        do {
            return try await process(request, from: connection)
        } catch let error as HeaderError {
            return request.response(code: ResponseCode.systemError, remark: error.description)
        } catch let error as JSONParseError {
            return request.response(code: ResponseCode.systemError, remark: "bad body: \(error)")
        } catch {
            logger.warning("request \(request.code) from \(connection.remoteAddress) failed: \(error)")
            return request.response(code: ResponseCode.systemError, remark: "\(error)")
        }
    }

    /// Header keys that name a topic or a group, in every request code (V2 and batch sends use
    /// one-letter keys). Names that could become files or table keys are checked once, here.
    static let topicKeys = ["topic"]
    static let groupKeys = ["consumerGroup", "group", "producerGroup"]
    /// Group fields a request may leave empty (`@CFNullable` in RocketMQ's headers): a client
    /// that unregisters only as a producer sends an empty consumerGroup, and the reverse.
    static let nullableGroupKeys: [Int32: Set<String>] = [
        RequestCode.unregisterClient: ["consumerGroup", "producerGroup"]
    ]

    static func nameProblem(in request: RemotingCommand) -> String? {
        let short = request.code == RequestCode.sendMessageV2 || request.code == RequestCode.sendBatchMessage
        for key in short ? ["b"] : topicKeys {
            if let topic = request.extFields[key], let problem = SystemTopics.validate(topic) { return problem }
        }
        let nullable = nullableGroupKeys[request.code] ?? []
        for key in short ? ["a"] : groupKeys {
            guard let group = request.extFields[key], !(group.isEmpty && nullable.contains(key)) else { continue }
            if let problem = SystemTopics.validateGroup(group) { return problem }
        }
        return nil
    }

    /// What only the master serves; a DLedger slave forwards these to it.
    static let masterOnly: Set<Int32> = [
        RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendBatchMessage,
        RequestCode.consumerSendMsgBack, RequestCode.endTransaction, RequestCode.updateConsumerOffset,
    ]

    func process(_ request: RemotingCommand, from connection: RemotingConnection) async throws -> RemotingCommand {
        guard let dledger = store.replicatedLog, Self.masterOnly.contains(request.code) else {
            return try await serve(request, from: connection)
        }
        // While leadership moves, writes wait for the new master instead of failing.
        if dledger.isTransferringLeadership || !role.isMaster {
            await waitForRoleToSettle(dledger)
            if !role.isMaster, let answer = await forwardToMaster(request) { return answer }
        }
        let response = try await serve(request, from: connection)
        // Leadership moved and the put is in no log (refused, or its entry was replaced): the
        // master takes it. (A put whose fate is open answered FLUSH_SLAVE_TIMEOUT instead.) Raft
        // may have stepped down before the live role follows: wait for the role first.
        guard response.code == ResponseCode.serviceNotAvailable, !role.isMaster || dledger.state.role != .leader
        else { return response }
        await waitForRoleToSettle(dledger)
        if !role.isMaster, let answer = await forwardToMaster(request) { return answer }
        return response
    }

    func serve(_ request: RemotingCommand, from connection: RemotingConnection) async throws -> RemotingCommand {
        let send = SendMessageProcessor(broker: self)
        let client = ClientManageProcessor(broker: self)
        let admin = AdminBrokerProcessor(broker: self)
        switch request.code {
        case RequestCode.sendMessage, RequestCode.sendMessageV2, RequestCode.sendBatchMessage:
            return try await send.send(request, from: connection)
        case RequestCode.consumerSendMsgBack: return try await send.consumerSendMessageBack(request)
        case RequestCode.endTransaction: return try await EndTransactionProcessor(broker: self).endTransaction(request)
        case RequestCode.pullMessage: return try await PullMessageProcessor(broker: self).pull(request)
        case RequestCode.heartBeat: return try await client.heartbeat(request, from: connection)
        case RequestCode.unregisterClient: return try client.unregisterClient(request)
        case RequestCode.checkClientConfig: return try client.checkClientConfig(request)
        case RequestCode.getConsumerListByGroup: return try client.consumerList(request)
        case RequestCode.queryConsumerOffset: return try client.queryConsumerOffset(request)
        case RequestCode.updateConsumerOffset: return try client.updateConsumerOffset(request)
        case RequestCode.getMaxOffset, RequestCode.getMinOffset, RequestCode.getEarliestMsgStoretime,
            RequestCode.searchOffsetByTimestamp:
            return try admin.queueOffsets(request)
        case RequestCode.lockBatchMQ: return try admin.lockBatch(request)
        case RequestCode.unlockBatchMQ: return try admin.unlockBatch(request)
        case RequestCode.updateAndCreateTopic: return try await admin.updateAndCreateTopic(request)
        case RequestCode.deleteTopicInBroker: return try await admin.deleteTopic(request)
        case RequestCode.getAllTopicConfig: return admin.allTopicConfig(request)
        case RequestCode.getBrokerConfig: return admin.brokerConfig(request)
        case RequestCode.getBrokerRuntimeInfo: return admin.runtimeInfo(request)
        case RequestCode.getAllSubscriptionGroupConfig: return admin.allSubscriptionGroups(request)
        case RequestCode.dLedgerLeadershipTransfer: return await transferLeadership(request)
        case RequestCode.getAllDelayOffset:
            return request.response(code: ResponseCode.success, bodyBytes: schedule.json.serializedBytes())
        case RequestCode.getAllConsumerOffset:
            return request.response(code: ResponseCode.success, bodyBytes: consumerOffsets.json.serializedBytes())
        case RequestCode.getConsumeStats: return try ConsumerAdminProcessor(broker: self).consumeStats(request)
        case RequestCode.getConsumerConnectionList:
            return try ConsumerAdminProcessor(broker: self).consumerConnectionList(request)
        case RequestCode.invokeBrokerToResetOffset: return try ConsumerAdminProcessor(broker: self).resetOffset(request)
        case RequestCode.viewMessageById: return try admin.viewMessageById(request)
        case RequestCode.queryMessage: return try admin.queryMessage(request)
        default:
            return request.response(
                code: ResponseCode.requestCodeNotSupported, remark: " request type \(request.code) not supported")
        }
    }
}
