import Logging
import NIOPosix
import Storage
import Synchronization

/// SYNC_FLUSH group commit: concurrent senders wait on one fsync that covers all of them. The
/// flushed CommitLog offset is an `OffsetWaiter`; one flush loop at a time advances it.
final class GroupCommitService: Sendable {
    struct State {
        /// The highest offset someone asked to have fsynced.
        var requested: Int64 = 0
        var running = false
    }
    let state = Mutex(State())
    let flushed = OffsetWaiter()
    let logger: Logger
    /// RocketMQ's `syncFlushTimeout`: a put waits this long for its fsync (FLUSH_DISK_TIMEOUT).
    let timeout: Duration

    init(logger: Logger, timeout: Duration = .seconds(5)) {
        self.logger = logger
        self.timeout = timeout
    }

    /// Waits until `flush` has made `offset` durable. `flush` returns the durable end.
    func waitForFlush(upTo offset: Int64, flush: @escaping @Sendable () throws -> Int64) async -> OffsetWaitResult {
        let start = state.withLock { state -> Bool in
            state.requested = max(state.requested, offset)
            guard !state.running else { return false }
            state.running = true
            return true
        }
        if start { Task.detached { [self] in await self.flushLoop(flush) } }
        return await flushed.wait(for: offset, timeout: timeout)
    }

    private func flushLoop(_ flush: @escaping @Sendable () throws -> Int64) async {
        while true {
            let target = state.withLock { state -> Int64? in
                guard state.requested > flushed.reached else {
                    state.running = false
                    return nil
                }
                return state.requested
            }
            guard target != nil else { return }
            do {
                let before = flushed.reached
                let durable = try await NIOThreadPool.singleton.runIfActive { try flush() }
                flushed.advance(to: durable)
                if durable <= before {
                    // Nothing more can become durable (the log ends before the request, e.g. after a
                    // rolled-back put): stop instead of spinning; such waiters time out.
                    state.withLock { $0.requested = flushed.reached }
                }
            } catch {
                logger.error("sync flush failed: \(error)")
                state.withLock { $0.requested = flushed.reached }
                flushed.fail("fsync failed: \(error)")
            }
        }
    }
}
