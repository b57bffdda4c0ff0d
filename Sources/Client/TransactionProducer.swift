import Logging
import NIOCore
import Remoting

/// The outcome of a local transaction (`LocalTransactionState`).
public enum LocalTransactionState: Sendable, Equatable {
    case commitMessage, rollbackMessage, unknown

    /// The END_TRANSACTION `commitOrRollback` value.
    var wireValue: Int32 {
        switch self {
        case .commitMessage: MessageSysFlag.transactionCommitType
        case .rollbackMessage: MessageSysFlag.transactionRollbackType
        case .unknown: MessageSysFlag.transactionNotType
        }
    }
}

/// Runs the local transaction of a half message, and answers the broker when it asks later.
public protocol TransactionListener: Sendable {
    /// Called once the half message is stored; its answer commits or rolls the message back.
    func executeLocalTransaction(_ message: Message, sendResult: SendResult) async -> LocalTransactionState
    /// Called when the broker asks about a transaction still undecided after `transactionTimeOut`
    /// (e.g. the producer that sent it died); `message` is the half message.
    func checkLocalTransaction(_ message: MessageExt) async -> LocalTransactionState
}

public struct TransactionSendResult: Sendable, Equatable {
    public var sendResult: SendResult
    public var localTransactionState: LocalTransactionState
}

/// A producer of transactional messages (`TransactionMQProducer`): sends a half message, runs
/// the local transaction, then commits or rolls back with END_TRANSACTION; answers the broker's
/// CHECK_TRANSACTION_STATE with the listener's `checkLocalTransaction`.
public final class TransactionProducer: Sendable {
    public let producer: Producer
    let listener: any TransactionListener

    public init(
        group: String, namesrvAddr: String, listener: any TransactionListener,
        options: ProducerOptions = ProducerOptions(), logger: Logger = Logger(label: "rocketmq.transaction-producer")
    ) {
        producer = Producer(group: group, namesrvAddr: namesrvAddr, options: options, logger: logger)
        self.listener = listener
        producer.api.onRequest(RequestCode.checkTransactionState) { [producer, listener] request, connection in
            await Self.answerCheck(request, on: connection, group: producer.group, listener: listener, logger: logger)
            return nil
        }
    }

    public func start() async { await producer.start() }

    public func shutdown() async { await producer.shutdown() }

    /// Sends `message` as a half message, runs the local transaction and ends it. A failed
    /// END_TRANSACTION is not an error: the broker's check decides then.
    public func sendMessageInTransaction(_ message: Message) async throws -> TransactionSendResult {
        guard message.properties[MessageConst.delayTimeLevel] == nil else {
            throw ClientError.illegalMessage("a transactional message cannot be delayed")
        }
        var half = message
        half.properties[MessageConst.transactionPrepared] = "true"
        half.properties[MessageConst.producerGroup] = producer.group
        let sendResult = try await producer.send(half)
        let state = await listener.executeLocalTransaction(message, sendResult: sendResult)
        guard let address = producer.masterAddress(of: sendResult.messageQueue.brokerName) else {
            producer.logger.warning("no broker address to end transaction \(sendResult.msgId); the check will decide")
            return TransactionSendResult(sendResult: sendResult, localTransactionState: state)
        }
        let request = Self.endTransaction(
            group: producer.group, queueOffset: sendResult.queueOffset,
            commitLogOffset: MessageID.decodeOffsetMessageId(sendResult.offsetMsgId)?.1 ?? -1,
            offsetMsgId: sendResult.offsetMsgId, transactionId: sendResult.msgId, state: state, fromCheck: false)
        do {
            try await producer.api.invokeOneway(address, request)
        } catch {
            producer.logger.warning("END_TRANSACTION for \(sendResult.msgId) failed: \(error); the check will decide")
        }
        return TransactionSendResult(sendResult: sendResult, localTransactionState: state)
    }

    static func endTransaction(
        group: String, queueOffset: Int64, commitLogOffset: Int64, offsetMsgId: String, transactionId: String,
        state: LocalTransactionState, fromCheck: Bool
    ) -> RemotingCommand {
        .request(
            code: RequestCode.endTransaction,
            fields: [
                "producerGroup": group, "tranStateTableOffset": String(queueOffset),
                "commitLogOffset": String(commitLogOffset), "commitOrRollback": String(state.wireValue),
                "fromTransactionCheck": String(fromCheck), "msgId": offsetMsgId, "transactionId": transactionId,
            ])
    }

    static func answerCheck(
        _ request: RemotingCommand, on connection: RemotingConnection, group: String, listener: any TransactionListener,
        logger: Logger
    ) async {
        guard var body = request.body, var message = try? StoredMessageCodec.decode(from: &body) else {
            logger.warning("CHECK_TRANSACTION_STATE from \(connection.remoteAddress) without a readable message")
            return
        }
        if let offset = request.optionalString("commitLogOffset").flatMap({ Int64($0) }) {
            message.commitLogOffset = offset
        }
        if let offset = request.optionalString("tranStateTableOffset").flatMap({ Int64($0) }) {
            message.queueOffset = offset
        }
        let state = await listener.checkLocalTransaction(message)
        let transactionId = request.optionalString("transactionId") ?? message.uniqueKey ?? ""
        logger.debug("transaction \(transactionId) checked by \(connection.remoteAddress): \(state)")
        connection.sendOneway(
            endTransaction(
                group: group, queueOffset: message.queueOffset, commitLogOffset: message.commitLogOffset,
                offsetMsgId: request.optionalString("offsetMsgId") ?? message.offsetMessageId,
                transactionId: transactionId, state: state, fromCheck: true))
    }
}
