import Client
import Remoting
import Synchronization
import TestSupport
import Testing

@testable import Broker

/// A listener with fixed answers, recording what the broker asked.
final class ScriptedTransactions: TransactionListener {
    let execute: LocalTransactionState
    let check: LocalTransactionState
    let checked = Mutex<[String]>([])

    init(execute: LocalTransactionState, check: LocalTransactionState) {
        self.execute = execute
        self.check = check
    }

    func executeLocalTransaction(_ message: Message, sendResult: SendResult) async -> LocalTransactionState {
        execute
    }

    func checkLocalTransaction(_ message: MessageExt) async -> LocalTransactionState {
        checked.withLock { $0.append(String(decoding: message.body, as: UTF8.self)) }
        return check
    }
}

@Suite(.serialized)
struct TransactionTests {
    static let fastChecks = ["transactionTimeOut": "300", "transactionCheckInterval": "100"]

    @Test func commitMakesTheMessageVisibleAndRollbackDiscardsIt() async throws {
        let cluster = try await LocalCluster(overrides: Self.fastChecks)  // check rounds run while the test watches
        let committing = TransactionProducer(
            group: "PG_tx", namesrvAddr: cluster.namesrvAddr,
            listener: ScriptedTransactions(execute: .commitMessage, check: .rollbackMessage))
        await committing.start()
        let committed = try await committing.sendMessageInTransaction(
            Message(topic: "TxTopic", body: "pay-1", tags: "T", keys: ["order-1"]))
        #expect(committed.localTransactionState == .commitMessage)
        #expect(try await eventually(5) { cluster.storedBodies("TxTopic") == ["pay-1"] })
        await committing.shutdown()

        let rollingBack = TransactionProducer(
            group: "PG_tx", namesrvAddr: cluster.namesrvAddr,
            listener: ScriptedTransactions(execute: .rollbackMessage, check: .commitMessage))
        await rollingBack.start()
        _ = try await rollingBack.sendMessageInTransaction(Message(topic: "TxTopic", body: "pay-2"))
        let broker = cluster.brokers[0]
        #expect(try await eventually(5) { broker.store.maxOffsetInQueue(SystemTopics.transactionOpHalf, 0) == 2 })
        // A check round has passed both half messages: a rolled-back one it resurrected would show now.
        #expect(
            try await eventually(5) {
                broker.consumerOffsets.query(
                    group: TransactionalMessageService.internalGroup, topic: SystemTopics.transactionHalf, queueId: 0)
                    == 2
            })
        #expect(cluster.storedBodies("TxTopic") == ["pay-1"], "a rolled-back message never becomes visible")
        let stored = broker.store.getMessage(
            topic: "TxTopic", queueId: committed.sendResult.messageQueue.queueId,
            offset: 0, maxCount: 1, filter: nil)
        let message = try #require(try StoredMessageCodec.decodeAll(stored.messages).first)
        #expect(message.uniqueKey == committed.sendResult.msgId && message.keys == ["order-1"])
        #expect(message.properties[MessageConst.realTopic] == nil && message.properties["TRAN_MSG"] == nil)
        await rollingBack.shutdown()
        await cluster.shutdown()
    }

    @Test func aProducerThatDiesUndecidedIsResolvedByTheCheck() async throws {
        let cluster = try await LocalCluster(overrides: Self.fastChecks)
        let dying = TransactionProducer(
            group: "PG_check", namesrvAddr: cluster.namesrvAddr,
            listener: ScriptedTransactions(execute: .unknown, check: .unknown))
        await dying.start()
        _ = try await dying.sendMessageInTransaction(Message(topic: "TxCheck", body: "commit-me"))
        await dying.shutdown()  // gone before deciding

        let survivorListener = ScriptedTransactions(execute: .unknown, check: .commitMessage)
        let survivor = TransactionProducer(
            group: "PG_check", namesrvAddr: cluster.namesrvAddr, listener: survivorListener)
        await survivor.start()
        #expect(try await eventually(10) { cluster.storedBodies("TxCheck") == ["commit-me"] })
        #expect(survivorListener.checked.withLock { $0 } == ["commit-me"])
        await survivor.shutdown()
        await cluster.shutdown()
    }

    @Test func anUnansweredTransactionIsDiscardedAfterTransactionCheckMax() async throws {
        var overrides = Self.fastChecks
        overrides["transactionCheckMax"] = "2"
        let cluster = try await LocalCluster(overrides: overrides)
        let listener = ScriptedTransactions(execute: .unknown, check: .unknown)
        let producer = TransactionProducer(group: "PG_max", namesrvAddr: cluster.namesrvAddr, listener: listener)
        await producer.start()
        _ = try await producer.sendMessageInTransaction(Message(topic: "TxMax", body: "never"))
        let broker = cluster.brokers[0]
        #expect(
            try await eventually(10) {
                broker.store.maxOffsetInQueue(SystemTopics.transactionCheckMaxTime, 0) == 1
            })
        #expect(listener.checked.withLock { $0 } == ["never", "never"])
        #expect(cluster.storedBodies("TxMax").isEmpty)
        await producer.shutdown()
        await cluster.shutdown()
    }
}
