import NIOConcurrencyHelpers
import NIOCore

/// Runs the jobs of tasks that prefer it (SE-0417 `Task(executorPreference:)`) on a NIO event loop.
///
/// A request handled on the loop that read it needs no hop to the cooperative pool and back: no
/// thread wake-ups, which at low concurrency cost more than the work. Only for handlers whose
/// synchronous parts are short (page-cache reads and writes under the store lock); anything that
/// may block (fsync, config files) must stay off the loop or await work elsewhere.
///
/// Jobs enqueued from other threads (tasks resumed by a quorum or flush waiter, many at once)
/// reach the loop in batches: one hand-over, and one wake-up of the loop, per batch.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop
    /// Jobs from other threads waiting for the drain already scheduled on the loop.
    private let arrivals = NIOLockedValueBox<[UnownedJob]>([])

    public init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if eventLoop.inEventLoop {
            eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
            return
        }
        let first = arrivals.withLockedValue { arrivals in
            arrivals.append(job)
            return arrivals.count == 1
        }
        if first { eventLoop.execute { self.drainArrivals() } }
    }

    private func drainArrivals() {
        let jobs = arrivals.withLockedValue { arrivals in
            defer { arrivals.removeAll(keepingCapacity: true) }
            return arrivals
        }
        let executor = asUnownedTaskExecutor()
        for job in jobs { job.runSynchronously(on: executor) }
    }
}
