import Common
import DLedgerStore
import Logging
import Storage

/// DLedger mode: the store's ConsumeQueues and index follow the replicated log's commit point.
extension MessageStore {
    /// Opens the ConsumeQueues and the index over the recovered DLedger log. They only ever
    /// held committed records, which never change; entries past the local log's end (a torn
    /// tail after a crash) are cut and come back with re-replication.
    func startReplicated() throws {
        try state.withLock { state in
            let end = state.commitLog.maxOffset
            if config.messageIndexEnable { try state.index.load(commitLogEnd: end) }
            var reputFrom = try loadConsumeQueues(commitLogEnd: end, state: &state)
            if config.messageIndexEnable {
                let minOffset = state.commitLog.minOffset
                reputFrom = min(reputFrom, max(minOffset, state.index.indexedThrough ?? minOffset))
            }
            state.reputOffset = reputFrom
            logger.info(
                "store over the DLedger log [\(state.commitLog.minOffset), \(end)): \(state.consumeQueues.count) queues, dispatch resumes at \(reputFrom)"
            )
        }
    }

    /// Where dispatch has reached, and the commit point it follows.
    public var reputProgress: (dispatched: Int64, committed: Int64) {
        state.withLock { ($0.reputOffset, $0.commitLog.dispatchableOffset) }
    }

    /// The reput service: dispatches committed records into the ConsumeQueues and the index
    /// as the commit point advances, and wakes the long polls of the queues that grew.
    public func runReput() async {
        guard let log = replicatedLog else { return }
        var failing: String?
        while !Task.isCancelled {
            let (from, committed) = reputProgress
            guard from < committed else {
                _ = await log.committed.wait(for: from + 1, timeout: .milliseconds(200))
                continue
            }
            do {
                let queues = try state.withLock { state -> Set<TopicQueueKey> in
                    if state.reputOffset < state.commitLog.minOffset {
                        // The log restarted at its leader's first entry: continue from there.
                        logger.warning(
                            "the DLedger log now starts at \(state.commitLog.minOffset); dispatch skips from \(state.reputOffset)"
                        )
                        state.reputOffset = state.commitLog.minOffset
                    }
                    let (_, _, next, queues) = try redispatch(from: state.reputOffset, end: committed, state: &state)
                    state.reputOffset = max(state.reputOffset, next)
                    return queues
                }
                if failing != nil {
                    logger.warning("dispatching the DLedger log works again")
                    failing = nil
                }
                if !queues.isEmpty { arrivalListener(Array(queues)) }
            } catch {
                if failing != "\(error)" {
                    logger.error("dispatching the DLedger log at \(from) failed: \(error); retrying")
                    failing = "\(error)"
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// A new leader: the next queue offsets come from the ConsumeQueues (everything committed
    /// is dispatched by now), dropping offsets handed out for writes that never committed.
    public func resetQueueOffsetsFromConsumeQueues() {
        state.withLock { state in
            state.queueOffsets = state.consumeQueues.mapValues(\.maxOffset)
        }
    }
}
