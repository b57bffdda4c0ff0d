import Common
import Remoting
import Synchronization
import TestSupport
import Testing

@testable import Broker
@testable import Client

/// What a test listener saw.
final class Received: Sendable {
    let bodies = Mutex<[String]>([])
    let messages = Mutex<[MessageExt]>([])

    func record(_ batch: [MessageExt]) {
        messages.withLock { $0 += batch }
        bodies.withLock { $0 += batch.map { String(decoding: $0.body, as: UTF8.self) } }
    }

    var all: [String] { bodies.withLock { $0 } }
    var count: Int { bodies.withLock { $0.count } }
}

/// The first wall-clock millisecond after `millis` (waits on the clock with a deadline).
func millisecond(after millis: Int64) async throws -> Int64 {
    #expect(try await eventually { currentTimeMillis() > millis }, "the wall clock did not pass \(millis)")
    return currentTimeMillis()
}

/// Options for quick rebalances, with local offsets (broadcasting) in a directory of their own.
func fastOptions(_ model: MessageModel = .clustering) throws -> ConsumerOptions {
    var options = ConsumerOptions()
    options.messageModel = model
    options.rebalanceIntervalMillis = 500
    options.persistConsumerOffsetIntervalMillis = 200
    options.brokerSuspendMaxTimeMillis = 1000
    options.pollNameServerIntervalMillis = 500
    options.heartbeatBrokerIntervalMillis = 500
    options.instanceName = "consumer-\(UInt32.random(in: 0...UInt32.max))"
    options.offsetStoreDir = try makeTemporaryDirectory("rocketmq-test-offsets")
    return options
}

func sendAll(_ producer: Producer, topic: String, _ bodies: [String], tags: String? = nil) async throws {
    for body in bodies { _ = try await producer.send(Message(topic: topic, body: body, tags: tags)) }
}

/// A push consumer of `topic` (not started) whose listener records every message and succeeds.
func recordingConsumer(_ group: String, _ cluster: LocalCluster, topic: String, options: ConsumerOptions) throws
    -> (PushConsumer, Received)
{
    let consumer = try PushConsumer(group: group, namesrvAddr: cluster.namesrvAddr, options: options)
    consumer.subscribe(topic)
    let received = Received()
    consumer.registerMessageListener { batch, _ in
        received.record(batch)
        return .consumeSuccess
    }
    return (consumer, received)
}

@Suite(.serialized)
struct ConsumerTests {
    @Test func allocationMatchesRocketMQsAverageSplit() {
        let queues = (0..<8).map { MessageQueue(topic: "T", brokerName: "b", queueId: $0) }
        let ids = ["c1", "c2", "c3"]
        let split = ids.map { AllocateMessageQueueAveragely.allocate(queues: queues, clientIds: ids, me: $0) }
        #expect(split.map { $0.map(\.queueId) } == [[0, 1, 2], [3, 4, 5], [6, 7]])
        #expect(AllocateMessageQueueAveragely.allocate(queues: queues, clientIds: ids, me: "x").isEmpty)
        let many = (0..<10).map { "c\($0)" }
        #expect(AllocateMessageQueueAveragely.allocate(queues: queues, clientIds: many, me: "c9").isEmpty)
    }

    @Test func clusteringConsumersSplitQueuesAndRebalanceWhenOneLeaves() async throws {
        let cluster = try await LocalCluster()
        let producer = Producer(group: "PG_c", namesrvAddr: cluster.namesrvAddr)
        try await sendAll(producer, topic: "ClusterT", (0..<40).map { "m\($0)" })
        var options = try fastOptions()
        options.consumeFromWhere = .firstOffset
        let (one, first) = try recordingConsumer("CG_cluster", cluster, topic: "ClusterT", options: options)
        options.instanceName += "-2"
        let (two, second) = try recordingConsumer("CG_cluster", cluster, topic: "ClusterT", options: options)
        let consumers = [one, two]
        for consumer in consumers { try await consumer.start() }
        #expect(
            try await eventually {
                Set(first.all + second.all) == Set((0..<40).map { "m\($0)" })
                    && consumers.allSatisfy { $0.assignedQueues.filter { $0.topic == "ClusterT" }.count == 2 }
            })
        #expect(first.count + second.count >= 40)
        #expect(Set(consumers[0].assignedQueues).isDisjoint(with: consumers[1].assignedQueues))
        await consumers[1].shutdown()
        #expect(try await eventually { consumers[0].assignedQueues.filter { $0.topic == "ClusterT" }.count == 4 })
        try await sendAll(producer, topic: "ClusterT", (40..<60).map { "m\($0)" })
        #expect(try await eventually { Set(first.all).isSuperset(of: (40..<60).map { "m\($0)" }) })
        await consumers[0].shutdown()
        let committed = (0..<4).compactMap {
            cluster.brokers[0].consumerOffsets.query(group: "CG_cluster", topic: "ClusterT", queueId: $0)
        }
        #expect(committed.reduce(0, +) == 60, "offsets committed at shutdown")
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func broadcastingDeliversEverythingToEveryConsumer() async throws {
        let cluster = try await LocalCluster()
        let producer = Producer(group: "PG_b", namesrvAddr: cluster.namesrvAddr)
        try await sendAll(producer, topic: "BroadT", ["warm"])
        var receivers: [Received] = []
        var offsetDirectories: [String] = []
        var consumers: [PushConsumer] = []
        for _ in 0..<2 {
            var options = try fastOptions(.broadcasting)
            offsetDirectories.append(options.offsetStoreDir)
            options.consumeFromWhere = .firstOffset
            let (consumer, received) = try recordingConsumer("CG_broad", cluster, topic: "BroadT", options: options)
            try await consumer.start()
            #expect(consumer.assignedQueues.count == 4)
            consumers.append(consumer)
            receivers.append(received)
        }
        try await sendAll(producer, topic: "BroadT", (0..<10).map { "b\($0)" })
        let expected = Set(["warm"] + (0..<10).map { "b\($0)" })
        #expect(try await eventually { receivers.allSatisfy { Set($0.all) == expected } })
        for consumer in consumers { await consumer.shutdown() }
        let file = offsetDirectories[0] + "/\(consumers[0].clientId)/CG_broad/offsets.json"
        let saved = try #require(try AtomicFile.read(file))
        #expect(saved.contains("BroadT"))
        #expect(
            (0..<4).allSatisfy {
                cluster.brokers[0].consumerOffsets.query(group: "CG_broad", topic: "BroadT", queueId: $0) == nil
            }, "broadcasting offsets stay local")
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func orderlyConsumptionKeepsKeyOrderThroughFailuresAndLocksQueues() async throws {
        let cluster = try await LocalCluster()
        let producer = Producer(group: "PG_o", namesrvAddr: cluster.namesrvAddr)
        let keys = ["k1", "k2", "k3"]
        for step in 0..<15 {
            for key in keys {
                _ = try await producer.send(Message(topic: "OrderT", body: "\(key):\(step)"), shardingKey: key)
            }
        }
        var options = try fastOptions()
        options.consumeFromWhere = .firstOffset
        options.suspendCurrentQueueTimeMillis = 100
        let consumer = try PushConsumer(group: "CG_order", namesrvAddr: cluster.namesrvAddr, options: options)
        consumer.subscribe("OrderT")
        let received = Received()
        let failedOnce = Mutex<Set<String>>([])
        consumer.registerMessageListenerOrderly { batch, _ in
            let body = String(decoding: batch[0].body, as: UTF8.self)
            if body.hasSuffix(":5"), failedOnce.withLock({ $0.insert(body).inserted }) {
                return .suspendCurrentQueueAMoment
            }
            received.record(batch)
            return .success
        }
        try await consumer.start()
        #expect(try await eventually { received.count == 45 })
        for key in keys {
            let steps = received.all.filter { $0.hasPrefix(key + ":") }.map { Int($0.split(separator: ":")[1])! }
            #expect(steps == Array(0..<15), "\(key) in order, failed message redelivered in place")
        }
        let locked = cluster.brokers[0].locks.withLock { locks in
            (0..<4).filter {
                locks.owner(
                    group: "CG_order", queue: MessageQueue(topic: "OrderT", brokerName: "broker-a", queueId: $0),
                    now: currentTimeMillis()) == consumer.clientId
            }
        }
        #expect(locked.count == 4, "an orderly clustering consumer locks its queues on the broker")
        await consumer.shutdown()
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func failedMessagesComeBackThroughRetryThenDeadLetter() async throws {
        let cluster = try await LocalCluster(overrides: ["messageDelayLevel": "1s 1s 1s 1s 1s 1s"])
        let producer = Producer(group: "PG_r", namesrvAddr: cluster.namesrvAddr)
        var options = try fastOptions()
        options.maxReconsumeTimes = 2
        options.consumeFromWhere = .firstOffset
        let consumer = try PushConsumer(group: "CG_retry", namesrvAddr: cluster.namesrvAddr, options: options)
        consumer.subscribe("RetryT")
        let received = Received()
        consumer.registerMessageListener { batch, _ in
            received.record(batch)
            let body = String(decoding: batch[0].body, as: UTF8.self)
            if body == "poison" { return .reconsumeLater }
            if body == "flaky", batch[0].reconsumeTimes == 0 { return .reconsumeLater }
            return .consumeSuccess
        }
        try await consumer.start()
        try await sendAll(producer, topic: "RetryT", ["flaky", "poison", "fine"])
        #expect(
            try await eventually(20) {
                received.all.filter { $0 == "flaky" }.count == 2 && received.all.filter { $0 == "poison" }.count == 3
            })
        let redelivered = received.messages.withLock { $0.filter { $0.reconsumeTimes > 0 } }
        #expect(redelivered.allSatisfy { $0.topic == "RetryT" }, "retried messages show their original topic")
        let dlq = SystemTopics.dlqTopic(for: "CG_retry")
        #expect(try await eventually { cluster.storedBodies(dlq) == ["poison"] })
        #expect(received.all.filter { $0 == "fine" }.count == 1)
        await consumer.shutdown()
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func consumeFromFirstLastAndTimestamp() async throws {
        let cluster = try await LocalCluster()
        let producer = Producer(group: "PG_f", namesrvAddr: cluster.namesrvAddr)
        try await sendAll(producer, topic: "FromT", (0..<5).map { "old\($0)" })
        // A boundary millisecond that no message shares: after the old ones, before the mid ones.
        let boundary = try await millisecond(after: currentTimeMillis())
        _ = try await millisecond(after: boundary)
        try await sendAll(producer, topic: "FromT", (0..<5).map { "mid\($0)" })
        var outcomes: [String: Received] = [:]
        var consumers: [PushConsumer] = []
        for (group, from) in [
            ("CG_first", ConsumeFromWhere.firstOffset), ("CG_last", .lastOffset), ("CG_time", .timestamp(boundary)),
        ] {
            var options = try fastOptions()
            options.consumeFromWhere = from
            let (consumer, received) = try recordingConsumer(group, cluster, topic: "FromT", options: options)
            try await consumer.start()
            outcomes[group] = received
            consumers.append(consumer)
        }
        try await sendAll(producer, topic: "FromT", (0..<5).map { "new\($0)" })
        let old = (0..<5).map { "old\($0)" }
        let mid = (0..<5).map { "mid\($0)" }
        let new = (0..<5).map { "new\($0)" }
        #expect(try await eventually { Set(outcomes["CG_first"]!.all) == Set(old + mid + new) })
        #expect(try await eventually { Set(outcomes["CG_last"]!.all) == Set(new) })
        #expect(try await eventually { Set(outcomes["CG_time"]!.all) == Set(mid + new) })
        for consumer in consumers { await consumer.shutdown() }
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func flowControlBoundsCachedMessagesPerQueue() async throws {
        let cluster = try await LocalCluster(overrides: ["defaultTopicQueueNums": "1"])
        let producer = Producer(group: "PG_flow", namesrvAddr: cluster.namesrvAddr)
        try await sendAll(producer, topic: "FlowT", (0..<100).map { "f\($0)" })
        var options = try fastOptions()
        options.consumeFromWhere = .firstOffset
        options.pullThresholdForQueue = 10
        options.pullBatchSize = 4
        options.consumeConcurrency = 1
        let consumer = try PushConsumer(group: "CG_flow", namesrvAddr: cluster.namesrvAddr, options: options)
        consumer.subscribe("FlowT")
        let received = Received()
        let maxCached = Mutex(0)
        let cachedMost: @Sendable () -> Int = {
            consumer.core.processQueues.withLock { $0.values.map(\.cachedCount).max() ?? 0 }
        }
        consumer.registerMessageListener { batch, _ in
            // The first delivery waits until pulling has filled the cache to the threshold: consumption
            // is slower than pulling, which is what flow control is for.
            if received.count == 0 { _ = try? await eventually(5) { cachedMost() >= 10 } }
            maxCached.withLock { $0 = max($0, cachedMost()) }
            received.record(batch)
            return .consumeSuccess
        }
        try await consumer.start()
        #expect(try await eventually(20) { received.count == 100 })
        #expect(maxCached.withLock { $0 } <= 10 + 4 - 1, "never more than the threshold plus one pull in cache")
        await consumer.shutdown()
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func litePullConsumerPollsCommitsAndResumes() async throws {
        let cluster = try await LocalCluster()
        let producer = Producer(group: "PG_lite", namesrvAddr: cluster.namesrvAddr)
        try await sendAll(producer, topic: "LiteT", (0..<20).map { "l\($0)" })
        var options = try fastOptions()
        options.consumeFromWhere = .firstOffset
        let manual = try LitePullConsumer(
            group: "CG_lite", namesrvAddr: cluster.namesrvAddr, options: options, autoCommit: false)
        let queues = try await manual.fetchMessageQueues("LiteT")
        #expect(queues.count == 4)
        manual.assign(queues)
        try await manual.start()
        var polled: [String] = []
        while polled.count < 20 {
            let batch = await manual.poll(timeout: .seconds(5))
            guard !batch.isEmpty else { break }
            polled += batch.map { String(decoding: $0.body, as: UTF8.self) }
        }
        #expect(Set(polled) == Set((0..<20).map { "l\($0)" }))
        await manual.commit()
        await manual.shutdown()
        let committed = (0..<4).compactMap {
            cluster.brokers[0].consumerOffsets.query(group: "CG_lite", topic: "LiteT", queueId: $0)
        }
        #expect(committed.reduce(0, +) == 20)

        try await sendAll(producer, topic: "LiteT", (20..<25).map { "l\($0)" })
        let subscriber = try LitePullConsumer(group: "CG_lite", namesrvAddr: cluster.namesrvAddr, options: options)
        subscriber.subscribe("LiteT")
        try await subscriber.start()
        var resumed: [String] = []
        while resumed.count < 5 {
            let batch = await subscriber.poll(timeout: .seconds(5))
            guard !batch.isEmpty else { break }
            resumed += batch.map { String(decoding: $0.body, as: UTF8.self) }
        }
        #expect(Set(resumed) == Set((20..<25).map { "l\($0)" }), "a new member resumes after the committed offsets")
        await subscriber.seek(MessageQueue(topic: "LiteT", brokerName: "broker-a", queueId: 0), to: 0)
        let again = await subscriber.poll(timeout: .seconds(5))
        #expect(!again.isEmpty && again.allSatisfy { $0.queueId == 0 }, "seek re-reads a queue")
        await subscriber.shutdown()
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func adminShowsProgressAndResetsOffsetsOfALiveConsumer() async throws {
        let cluster = try await LocalCluster()
        let producer = Producer(group: "PG_admin", namesrvAddr: cluster.namesrvAddr)
        try await sendAll(producer, topic: "AdminT", (0..<12).map { "a\($0)" })
        var options = try fastOptions()
        options.consumeFromWhere = .firstOffset
        let (consumer, received) = try recordingConsumer("CG_admin", cluster, topic: "AdminT", options: options)
        try await consumer.start()
        #expect(try await eventually { received.count == 12 })
        let admin = MQAdmin(api: MQClientAPI(namesrvAddr: cluster.namesrvAddr, logger: LocalCluster.logger))
        // The periodic commit has reported every queue's progress.
        #expect(
            try await eventually {
                (0..<4).map {
                    cluster.brokers[0].consumerOffsets.query(group: "CG_admin", topic: "AdminT", queueId: $0) ?? 0
                }.reduce(0, +) == 12
            })
        let progress = try await admin.consumerProgress(group: "CG_admin", topic: "AdminT")
        #expect(progress.count == 4)
        #expect(progress.map(\.brokerOffset).reduce(0, +) == 12)
        #expect(progress.map(\.lag).reduce(0, +) == 0)
        #expect(try await admin.consumerGroups().contains("CG_admin"))

        let offsets = try await admin.resetOffsetByTime(group: "CG_admin", topic: "AdminT", timestamp: 0)
        #expect(offsets.count == 4 && offsets.values.allSatisfy { $0 == 0 })
        #expect(try await eventually { received.count == 24 }, "the consumer re-reads from the reset offsets")
        await consumer.shutdown()
        await admin.api.shutdown()
        await producer.shutdown()
        await cluster.shutdown()
    }
}
