import Common
import NIOCore
import Storage

/// Master/slave HA on the store: the master reads CommitLog bytes to stream; the slave stores
/// them at the same offsets and dispatches the whole records among them into its own
/// ConsumeQueues and index (RocketMQ's slave reput).
extension MessageStore {
    /// Master: up to `maxBytes` from `offset` (nil when there is nothing there yet).
    public func replicaChunk(from offset: Int64, maxBytes: Int) throws -> ByteBuffer? {
        try state.withLock { state in
            guard let local = state.commitLog as? CommitLog else { throw ReplicaError.notALocalCommitLog }
            return try local.chunk(from: offset, maxBytes: maxBytes)
        }
    }

    /// Slave: stores the bytes the master sent for `offset`, then dispatches the records they
    /// completed. Returns where the CommitLog ends now (the slave's next acknowledgement).
    ///
    /// A record that fails its checks is not a copy of the master's: it is cut off with
    /// everything after it, and `ReplicaError.diverged` says where. Nothing past the last valid
    /// record is ever dispatched, so nothing mixed is ever served.
    public func appendReplica(_ bytes: ByteBuffer, at offset: Int64) throws(ReplicaError) -> Int64 {
        let (end, queues) = try state.withLock { state throws(ReplicaError) -> (Int64, Set<TopicQueueKey>) in
            guard var local = state.commitLog as? CommitLog else { throw .notALocalCommitLog }
            try local.appendReplica(bytes, at: offset)
            state.commitLog = local
            // A fresh slave starts where the master's log starts.
            state.reputOffset = max(state.reputOffset, local.minOffset)
            let whole: (end: Int64, problem: String?)
            do {
                whole = try local.wholeRecordsEnd(from: state.reputOffset)
            } catch {
                throw .io("\(error)")
            }
            if let problem = whole.problem {
                do {
                    try local.truncate(to: whole.end)
                } catch {
                    throw .io("cutting off the bad bytes at \(whole.end) failed: \(error)")
                }
                state.commitLog = local
                throw .diverged(at: whole.end, reason: problem)
            }
            var queues: Set<TopicQueueKey> = []
            if whole.end > state.reputOffset {
                do {
                    let (_, skipped, next, grown) = try redispatch(
                        from: state.reputOffset, end: whole.end, state: &state)
                    guard skipped == 0 else {
                        throw ReplicaError.diverged(at: state.reputOffset, reason: "a record does not decode")
                    }
                    state.reputOffset = next
                    queues = grown
                } catch let error as ReplicaError {
                    throw error
                } catch {
                    throw .io("dispatching replicated records failed: \(error)")
                }
            }
            return (local.maxOffset, queues)
        }
        writtenEnd.advance(to: end)
        if !queues.isEmpty { arrivalListener(Array(queues)) }
        return end
    }
}
