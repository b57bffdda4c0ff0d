import Client
import NIOCore
import Remoting
import Synchronization
import TestSupport
import Testing

@testable import Broker

@Suite(.serialized)
struct ProducerTests {
    @Test func syncSendsWithTagsAndKeysAreStoredWithUniqueIds() async throws {
        let cluster = try await LocalCluster()
        let producer = Producer(group: "PG_sync", namesrvAddr: cluster.namesrvAddr)
        await producer.start()
        var ids: Set<String> = []
        for i in 0..<20 {
            let result = try await producer.send(
                Message(topic: "SwiftTopic", body: "m\(i)", tags: "TagA", keys: ["k\(i)"]))
            #expect(result.status == .sendOK && result.queueOffset >= 0 && result.offsetMsgId.count == 32)
            ids.insert(result.msgId)
        }
        #expect(ids.count == 20)
        #expect(Set(cluster.storedBodies("SwiftTopic")) == Set((0..<20).map { "m\($0)" }))
        let found = try cluster.brokers[0].store.queryMessages(
            topic: "SwiftTopic", key: ids.first!, maxCount: 1, beginMillis: 0, endMillis: .max, uniqueKeyOnly: true)
        #expect(found.count == 1, "the returned msgId is the stored UNIQ_KEY")
        await producer.shutdown()
        await cluster.shutdown()
    }

    /// Found by the chaos runner: every producer's shutdown was refused ("The specified group is
    /// blank") because it unregisters with an empty consumerGroup, as RocketMQ's clients do.
    @Test func unregisteringWithOnlyOneGroupIsAccepted() async throws {
        let cluster = try await LocalCluster()
        let api = MQClientAPI(namesrvAddr: cluster.namesrvAddr, logger: LocalCluster.logger)
        let address = "127.0.0.1:\(cluster.brokers[0].config.listenPort)"
        for (producerGroup, consumerGroup) in [("PG_unreg", ""), ("", "CG_unreg")] {
            let response = try await api.invoke(
                address,
                .request(
                    code: RequestCode.unregisterClient,
                    fields: [
                        "clientID": "127.0.0.1@unreg", "producerGroup": producerGroup, "consumerGroup": consumerGroup,
                    ]))
            #expect(response.code == ResponseCode.success, "\(response.remark ?? "")")
        }
        let blankRequired = try await api.invoke(
            address,
            .request(
                code: RequestCode.queryConsumerOffset, fields: ["consumerGroup": "", "topic": "T", "queueId": "0"]))
        #expect(blankRequired.code != ResponseCode.success, "a required group may still not be blank")
        await api.shutdown()
        await cluster.shutdown()
    }

    @Test func orderlySendsKeepEachKeyOnOneQueue() async throws {
        let cluster = try await LocalCluster()
        let producer = Producer(group: "PG_order", namesrvAddr: cluster.namesrvAddr)
        var queues: [String: Set<Int32>] = [:]
        for step in 0..<10 {
            for key in ["alpha", "beta", "gamma"] {
                let result = try await producer.send(
                    Message(topic: "OrderSwift", body: "\(key)-\(step)"), shardingKey: key)
                queues[key, default: []].insert(result.messageQueue.queueId)
            }
        }
        #expect(queues.values.allSatisfy { $0.count == 1 })
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func batchAsyncAndOnewaySends() async throws {
        let cluster = try await LocalCluster()
        var options = ProducerOptions()
        options.maxInflightAsyncSends = 4
        let producer = Producer(group: "PG_modes", namesrvAddr: cluster.namesrvAddr, options: options)
        let batch = try await producer.sendBatch(
            (0..<5).map { Message(topic: "ModesSwift", body: "batch\($0)", keys: ["b\($0)"]) })
        #expect(batch.status == .sendOK)
        let outcomes = Mutex<[Bool]>([])
        for i in 0..<30 {
            await producer.sendAsync(Message(topic: "ModesSwift", body: "async\(i)")) { result in
                outcomes.withLock { $0.append((try? result.get()) != nil) }
            }
        }
        for i in 0..<5 { try await producer.sendOneway(Message(topic: "ModesSwift", body: "oneway\(i)")) }
        let expected = Set((0..<5).map { "batch\($0)" } + (0..<30).map { "async\($0)" } + (0..<5).map { "oneway\($0)" })
        #expect(try await eventually { Set(cluster.storedBodies("ModesSwift")) == expected })
        #expect(try await eventually { outcomes.withLock { $0.count == 30 } })
        #expect(outcomes.withLock { $0.allSatisfy { $0 } })
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func largeBodiesAreCompressedAndDeliveredIntact() async throws {
        let cluster = try await LocalCluster()
        let producer = Producer(group: "PG_big", namesrvAddr: cluster.namesrvAddr)
        let body = (0..<200_000).map { UInt8($0 % 7 + 65) }
        _ = try await producer.send(Message(topic: "BigSwift", body: body))
        let stored = try StoredMessageCodec.decodeAll(
            cluster.brokers[0].store.getMessage(topic: "BigSwift", queueId: 0, offset: 0, maxCount: 1, filter: nil)
                .messages
                + cluster.brokers[0].store.getMessage(
                    topic: "BigSwift", queueId: 1, offset: 0, maxCount: 1, filter: nil
                ).messages)
        let message = try #require(stored.first)
        #expect(message.sysFlag & MessageSysFlag.compressed != 0 && message.body.count < body.count)
        await producer.shutdown()
        await cluster.shutdown()
    }

    @Test func sendsMoveToAnotherBrokerWhenOneGoesAway() async throws {
        let cluster = try await LocalCluster(brokerNames: ["broker-a", "broker-b"])
        // Both brokers host the topic.
        for broker in cluster.brokers {
            broker.topics.update(TopicConfig(topicName: "FailoverSwift", readQueueNums: 2, writeQueueNums: 2))
            await broker.registerWithNameServers()
        }
        let producer = Producer(group: "PG_failover", namesrvAddr: cluster.namesrvAddr)
        for i in 0..<10 { _ = try await producer.send(Message(topic: "FailoverSwift", body: "before\(i)")) }
        await cluster.brokers[1].shutdown()
        for i in 0..<20 {
            let result = try await producer.send(Message(topic: "FailoverSwift", body: "after\(i)"))
            #expect(result.messageQueue.brokerName == "broker-a")
        }
        await producer.shutdown()
        await cluster.shutdown()
    }
}

extension ByteBuffer {
    static func + (lhs: ByteBuffer, rhs: ByteBuffer) -> ByteBuffer {
        var joined = lhs
        var right = rhs
        joined.writeBuffer(&right)
        return joined
    }
}
