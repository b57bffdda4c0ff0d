import NIOCore
import NIOPosix
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
}
