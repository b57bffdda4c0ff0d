import Common
import DLedgerStore
import Logging
import Remoting

/// DLedger mode: the broker's live role follows Raft (`dledger-design.md` §10.6).
///
/// - Leader: once it has committed an entry of its own term and dispatch has caught up with
///   the commit point, queue offsets are rebuilt from the ConsumeQueues and the broker becomes
///   the master (brokerId 0) of its term.
/// - Follower: a slave with brokerId = member number + 1.
/// - Candidate: a slave; it never accepts writes.
///
/// Every change re-registers with all NameServers at once, carrying the Raft term.
extension BrokerController {
    func runRoleChanges() async {
        for await state in memberStates {
            await apply(state)
        }
    }

    func apply(_ state: DLedgerMemberState) async {
        guard let dledger = store.replicatedLog else { return }
        let slave = LiveRole(
            role: .slave, brokerId: config.dLegerSlaveBrokerId, term: state.term,
            registers: state.leaderId != nil || role.current.registers)
        var next = slave
        if state.role == .leader {
            guard state.leaderReady else { return }  // a slave until its own term commits
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                let (dispatched, committed) = store.reputProgress
                let current = dledger.state
                guard current.role == .leader, current.term == state.term else { return }
                if dispatched >= committed { break }
                try? await Task.sleep(for: .milliseconds(2))
            }
            store.resetQueueOffsetsFromConsumeQueues()
            next = LiveRole(role: .syncMaster, brokerId: 0, term: state.term)
        }
        guard let previous = role.change(to: next) else { return }
        logger.info("role \(previous) -> \(next) (DLedger \(state))")
        if previous.isMaster, !next.isMaster, !(await successorIsNamed(dledger)) { return }
        await nameServers.registerAll(topics.registerBody)
    }

    /// A master that steps down leaves its route to its successor: it re-registers as a slave only
    /// once the NameServers name another master (up to 3 s). Registering at once would leave the
    /// group without a master until the new one registers, and a client that reads its route in
    /// that window has no queue to write to ("No route info of this topic") until its next route
    /// refresh. Until then, writes that reach this broker are forwarded to the new master.
    /// False when this member leads again meanwhile (it registers as master instead).
    func successorIsNamed(_ dledger: DLedgerServer) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline {
            if dledger.state.role == .leader { return false }
            if await masterAddress() != nil { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        logger.info("no other master named within 3 s of stepping down; registering as a slave")
        return true
    }
}

extension BrokerController {
    /// LEADERSHIP_TRANSFER (51005) from mqadmin: this leader hands over to `transfereeId`.
    func transferLeadership(_ request: RemotingCommand) async -> RemotingCommand {
        guard let dledger = store.replicatedLog else {
            return request.response(code: ResponseCode.systemError, remark: "not in DLedger mode")
        }
        guard let target = request.extFields["transfereeId"], dledger.config.peers.peer(target) != nil,
            target != dledger.config.selfId
        else {
            return request.response(
                code: ResponseCode.systemError,
                remark:
                    "transfereeId \(request.extFields["transfereeId"] ?? "(none)") is not another member of \(dledger.config.group)"
            )
        }
        guard dledger.state.role == .leader else {
            return request.response(
                code: ResponseCode.systemError, remark: "this member is not the leader (\(dledger.state))")
        }
        logger.info("leadership transfer to \(target) requested by \(request.extFields["forwardedBy"] ?? "mqadmin")")
        guard await dledger.transferLeadership(to: target, timeout: .seconds(5)) else {
            return request.response(
                code: ResponseCode.systemError, remark: "\(target) did not take over within 5 s (\(dledger.state))")
        }
        return request.response(code: ResponseCode.success, remark: "\(dledger.state)")
    }
}
