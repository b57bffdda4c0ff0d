import Common
import DequeModule
import Logging
import NIOCore
import NIOPosix
import Remoting
import Synchronization

/// SYNC_FLUSH group commit: concurrent senders wait on one fsync that covers all of them.
final class GroupCommitService: Sendable {
    struct Waiter {
        var offset: Int64
        var continuation: CheckedContinuation<Bool, Never>
    }
    struct State {
        var waiters: [Waiter] = []
        var running = false
    }
    let state = Mutex(State())
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Waits until `flush` has made `offset` durable; false if flushing failed.
    func waitForFlush(upTo offset: Int64, flush: @escaping @Sendable () throws -> Int64) async -> Bool {
        await withCheckedContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.waiters.append(Waiter(offset: offset, continuation: continuation))
                guard !state.running else { return false }
                state.running = true
                return true
            }
            if start {
                Task.detached { [self] in await self.flushLoop(flush) }
            }
        }
    }

    private func flushLoop(_ flush: @escaping @Sendable () throws -> Int64) async {
        while true {
            let batch = state.withLock { state -> [Waiter] in
                defer { state.waiters.removeAll() }
                if state.waiters.isEmpty { state.running = false }
                return state.waiters
            }
            if batch.isEmpty { return }
            var flushedOffset: Int64 = -1
            do {
                flushedOffset = try await NIOThreadPool.singleton.runIfActive { try flush() }
            } catch {
                logger.error("sync flush failed: \(error)")
            }
            var pending: [Waiter] = []
            for waiter in batch {
                if flushedOffset >= waiter.offset {
                    waiter.continuation.resume(returning: true)
                } else if flushedOffset < 0 {
                    waiter.continuation.resume(returning: false)
                } else {
                    pending.append(waiter)
                }
            }
            if !pending.isEmpty { state.withLock { $0.waiters.append(contentsOf: pending) } }
        }
    }
}
