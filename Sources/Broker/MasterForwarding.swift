import Common
import DLedgerStore
import Remoting
import Synchronization

/// DLedger mode: a write that reaches a slave — a client whose route still names this broker as
/// master, e.g. while leadership moves or right after a graceful stop handed it on — is
/// forwarded to the master and the master's answer relayed, so a switch fails no send. Stock
/// clients refresh routes only every 30 s; until then they keep writing to the old address.
extension BrokerController {
    /// Marks a forwarded request: it is never forwarded twice (no loops between slaves).
    static let forwardedKey = "forwardedBy"

    /// The master's answer to `request`, or nil when this broker cannot forward it. A master
    /// that turns out not to be one any more (SERVICE_NOT_AVAILABLE: it stored nothing) is looked
    /// up again, for up to 2 s.
    func forwardToMaster(_ request: RemotingCommand) async -> RemotingCommand? {
        guard store.replicatedLog != nil, request.extFields[Self.forwardedKey] == nil else { return nil }
        var forwarded = request
        forwarded.extFields[Self.forwardedKey] = config.brokerAddr
        let deadline = ContinuousClock.now + .seconds(2)
        while let master = await currentMaster() {
            do {
                var response = try await nameServers.client.invoke(master, forwarded, timeoutMillis: 3000)
                response.opaque = request.opaque
                lastForwardMillis.store(currentTimeMillis(), ordering: .relaxed)
                guard response.code == ResponseCode.serviceNotAvailable, ContinuousClock.now < deadline else {
                    return response
                }
                knownMaster.withLock { $0 = nil }
                try? await Task.sleep(for: .milliseconds(10))
            } catch {
                knownMaster.withLock { $0 = nil }
                logger.warning("forwarding request \(request.code) to the master \(master) failed: \(error)")
                return nil
            }
        }
        return nil
    }

    /// The master's address (cached for a second within one term of this broker's), waiting up
    /// to 2 s for one other than this broker to be named while leadership moves.
    func currentMaster() async -> String? {
        let now = ContinuousClock.now
        let term = role.current.term
        if let known = knownMaster.withLock({ $0 }), known.term == term, now - known.at < .seconds(1) {
            return known.address
        }
        let deadline = now + .seconds(2)
        while ContinuousClock.now < deadline, !role.isMaster {
            if let master = await masterAddress() {
                knownMaster.withLock { $0 = (master, ContinuousClock.now, term) }
                return master
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// A stopping former leader keeps forwarding until clients have moved on (no write for 2 s,
    /// at most 40 s: stock clients refresh routes every 30 s).
    func drainForwardedWrites() async {
        let started = currentTimeMillis()
        lastForwardMillis.store(started, ordering: .relaxed)
        while currentTimeMillis() - lastForwardMillis.load(ordering: .relaxed) < 2000,
            currentTimeMillis() - started < 40_000
        {
            try? await Task.sleep(for: .milliseconds(100))
        }
        logger.info("no client writes here any more (drained in \(currentTimeMillis() - started) ms)")
    }
}

extension BrokerController {
    /// Waits (up to 3 s) while a leadership transfer is under way or Raft's leader and the live
    /// role disagree, so a write lands on whoever is master afterwards.
    func waitForRoleToSettle(_ dledger: DLedgerServer) async {
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline {
            let leading = dledger.state.role == .leader
            if !dledger.isTransferringLeadership, leading == role.isMaster { return }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
