import Remoting

/// END_TRANSACTION (37): the producer's commit (8) or rollback (12) of a half message; 0 means
/// "unknown" and leaves it to the check service.
struct EndTransactionProcessor: Sendable {
    let broker: BrokerController

    func endTransaction(_ request: RemotingCommand) async throws -> RemotingCommand {
        let group = try request.string("producerGroup")
        let queueOffset = try request.int64("tranStateTableOffset")
        let commitLogOffset = try request.int64("commitLogOffset")
        let decision = try request.int32("commitOrRollback")
        let fromCheck = request.optionalString("fromTransactionCheck").map { $0 == "true" || $0 == "1" } ?? false
        guard broker.role.isMaster else {
            return request.response(
                code: ResponseCode.slaveNotAvailable, remark: "the broker is a slave, it cannot end transactions")
        }
        let commit: Bool
        switch decision {
        case MessageSysFlag.transactionCommitType: commit = true
        case MessageSysFlag.transactionRollbackType: commit = false
        case MessageSysFlag.transactionNotType:
            broker.logger.info(
                "transaction at \(commitLogOffset) of group \(group) still unknown (from check: \(fromCheck))")
            return request.response(code: ResponseCode.success)
        default:
            return request.response(code: ResponseCode.systemError, remark: "commitOrRollback \(decision) is unknown")
        }
        do {
            try await TransactionalMessageService(broker: broker).end(
                producerGroup: group, commitLogOffset: commitLogOffset, queueOffset: queueOffset, commit: commit)
        } catch {
            broker.logger.warning("END_TRANSACTION from group \(group) failed: \(error)")
            return request.response(code: ResponseCode.systemError, remark: error.description)
        }
        return request.response(code: ResponseCode.success)
    }
}
