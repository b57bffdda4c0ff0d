import NIOCore

/// Runs the jobs of tasks that prefer it (SE-0417 `Task(executorPreference:)`) on a NIO event loop.
///
/// A request handled on the loop that read it needs no hop to the cooperative pool and back: no
/// thread wake-ups, which at low concurrency cost more than the work. Only for handlers whose
/// synchronous parts are short (page-cache reads and writes under the store lock); anything that
/// may block (fsync, config files) must stay off the loop or await work elsewhere.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
