import Common
import DLedgerStore
import DequeModule
import Logging
import NIOCore
import NIOPosix
import Remoting
import Synchronization

extension MessageStore {
    public struct CleanResult: Sendable, Equatable {
        public var commitLogFiles = 0
        public var consumeQueueFiles = 0
        public var indexFiles = 0
    }

    /// Retention: deletes CommitLog segments last written before `cutoffMillis` (when nil: all
    /// but the current one, oldest first, at most `maxFiles`), then ConsumeQueue and index files
    /// that only point below the new CommitLog minimum; queue min offsets move up.
    public func cleanExpiredFiles(writtenBefore cutoffMillis: Int64?, maxFiles: Int = 10) -> CleanResult {
        state.withLock { state in
            var result = CleanResult()
            // A replicated log's records are dispatched by the reput: nothing it has not reached goes.
            let dispatched = replicatedLog == nil ? state.commitLog.maxOffset : state.reputOffset
            result.commitLogFiles = state.commitLog.deleteExpiredSegments(
                writtenBefore: cutoffMillis, maxFiles: maxFiles, below: dispatched)
            let minimum = state.commitLog.minOffset
            for key in Array(state.consumeQueues.keys) {
                do {
                    result.consumeQueueFiles += try state.consumeQueues[key]!.deleteExpired(commitLogMin: minimum)
                } catch {
                    logger.error("cleaning ConsumeQueue \(key) failed: \(error)")
                }
            }
            result.indexFiles = state.index.deleteExpired(commitLogMin: minimum)
            return result
        }
    }
}
