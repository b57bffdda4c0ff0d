import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Remoting

struct EventLoopTaskExecutorTests {
    @Test func aTaskPreferringTheLoopRunsAndResumesOnIt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let executor = EventLoopTaskExecutor(loop)
        let (atStart, afterSuspending) = await Task(executorPreference: executor) {
            let atStart = loop.inEventLoop
            await Task.yield()  // a suspension: the task resumes on its preferred executor
            return (atStart, loop.inEventLoop)
        }.value
        #expect(atStart && afterSuspending)
        let elsewhere = await Task { loop.inEventLoop }.value
        #expect(!elsewhere)
        try await group.shutdownGracefully()
    }

    /// Tasks resumed together from another thread (as a quorum waiter resumes its puts) reach
    /// the loop in batches: every one of them runs, and on the loop.
    @Test(.timeLimit(.minutes(1))) func tasksResumedFromAnotherThreadAllRunOnTheLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let executor = EventLoopTaskExecutor(loop)
        let parked = Parked()
        let tasks = (1...500).map { _ in
            Task(executorPreference: executor) {
                await withCheckedContinuation { continuation in parked.list.withLock { $0.append(continuation) } }
                return loop.inEventLoop
            }
        }
        while parked.list.withLock({ $0.count }) < tasks.count { await Task.yield() }
        await Task.detached {  // every one resumed from a pool thread
            for continuation in parked.list.withLock({ $0 }) { continuation.resume() }
        }.value
        var onLoop = 0
        for task in tasks where await task.value { onLoop += 1 }
        #expect(onLoop == 500)
        try await group.shutdownGracefully()
    }
}

/// Continuations parked until the test resumes them.
final class Parked: Sendable {
    let list = Mutex<[CheckedContinuation<Void, Never>]>([])
}
