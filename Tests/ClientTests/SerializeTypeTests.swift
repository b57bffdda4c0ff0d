import Client
import NIOCore
import Remoting
import TestSupport
import Testing

@testable import Broker

/// A client that chooses RocketMQ's binary headers (`SerializeType.rocketmq`) for its requests.
@Suite(.serialized)
struct SerializeTypeTests {
    @Test func brokersAndNameServersAnswerBinaryRequestsInKind() async throws {
        let cluster = try await LocalCluster()
        let api = MQClientAPI(namesrvAddr: cluster.namesrvAddr, logger: LocalCluster.logger, serializeType: .rocketmq)
        let route = try await api.invokeNameServer(
            .request(code: RequestCode.getRouteInfoByTopic, fields: ["topic": "TBW102"]))
        #expect(route.serializeType == .rocketmq && route.code == ResponseCode.success)
        let address = "127.0.0.1:\(cluster.brokers[0].config.listenPort)"
        let offset = try await api.invoke(
            address,
            .request(code: RequestCode.getMaxOffset, fields: ["topic": "TBW102", "queueId": "0"]))
        #expect(offset.serializeType == .rocketmq && offset.code == ResponseCode.success)
        #expect(offset.extFields["offset"] == "0")
        await api.shutdown()
        await cluster.shutdown()
    }

    @Test func producerAndConsumerWorkWithBinaryHeaders() async throws {
        let cluster = try await LocalCluster()
        var producerOptions = ProducerOptions()
        producerOptions.serializeType = .rocketmq
        let producer = Producer(group: "PG_binary", namesrvAddr: cluster.namesrvAddr, options: producerOptions)
        await producer.start()
        var sent: [String] = []
        for i in 0..<10 {
            let result = try await producer.send(
                Message(topic: "BinaryT", body: "b\(i)", tags: "TagB", keys: ["key\(i)"]))
            #expect(result.status == .sendOK && result.offsetMsgId.count == 32)
            sent.append("b\(i)")
        }
        let stored = try cluster.brokers[0].store.queryMessages(
            topic: "BinaryT", key: "key3", maxCount: 4, beginMillis: 0, endMillis: .max, uniqueKeyOnly: false)
        #expect(stored.count == 1, "keys and tags reached the store through the binary header")
        var options = try fastOptions()
        options.consumeFromWhere = .firstOffset
        options.serializeType = .rocketmq
        let (consumer, received) = try recordingConsumer("CG_binary", cluster, topic: "BinaryT", options: options)
        try await consumer.start()
        #expect(try await eventually { Set(received.all) == Set(sent) })
        await consumer.shutdown()
        await producer.shutdown()
        await cluster.shutdown()
    }
}
