import Storage
import Synchronization
import TestSupport
import Testing

final class Results: Sendable {
    let table = Mutex<[Int64: OffsetWaitResult]>([:])
}

struct OffsetWaiterTests {
    @Test func waitersResumeOnceTheOffsetReachesTheirs() async throws {
        let waiter = OffsetWaiter()
        let results = Results()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for offset in [30, 10, 20] as [Int64] {
                group.addTask {
                    let result = await waiter.wait(for: offset)
                    results.table.withLock { $0[offset] = result }
                }
            }
            #expect(try await eventually { waiter.waiterCount == 3 })
            waiter.advance(to: 15)
            #expect(try await eventually { results.table.withLock { $0.count == 1 } })
            #expect(results.table.withLock { $0 } == [10: .reached], "only the waiter at or below 15 resumed")
            waiter.advance(to: 5)
            #expect(waiter.reached == 15, "the offset never goes back")
            waiter.advance(to: 30)
            try await group.waitForAll()
        }
        #expect(results.table.withLock { $0 } == [10: .reached, 20: .reached, 30: .reached])
        #expect(await waiter.wait(for: 12) == .reached, "an offset already reached answers at once")
    }

    @Test func aDeadlineEndsTheWaitAsTimedOut() async {
        let waiter = OffsetWaiter()
        let clock = ContinuousClock()
        let started = clock.now
        let result = await waiter.wait(for: 100, timeout: .milliseconds(50))
        #expect(result == .timedOut)
        #expect(clock.now - started >= .milliseconds(50), "it did not give up early")
        #expect(waiter.waiterCount == 0)
    }

    @Test func aWaiterAddedWhileTheSweeperSleepsStillTimesOutFirst() async throws {
        let waiter = OffsetWaiter()
        async let long = waiter.wait(for: 100, timeout: .seconds(60))
        #expect(try await eventually { waiter.waiterCount == 1 })
        let short = await waiter.wait(for: 100, timeout: .milliseconds(30))
        #expect(short == .timedOut)
        #expect(waiter.waiterCount == 1, "the short deadline did not wait for the long one")
        waiter.advance(to: 100)
        #expect(await long == .reached)
    }

    @Test func failResumesCurrentWaitersOnly() async throws {
        let waiter = OffsetWaiter()
        async let first = waiter.wait(for: 10)
        #expect(try await eventually { waiter.waiterCount == 1 })
        waiter.fail("fsync failed")
        #expect(await first == .failed("fsync failed"))
        async let second = waiter.wait(for: 10)
        #expect(try await eventually { waiter.waiterCount == 1 })
        waiter.advance(to: 10)
        #expect(await second == .reached, "a failure is not sticky")
    }

    @Test func aFullWaiterTurnsCallersAway() async throws {
        let waiter = OffsetWaiter(maxWaiters: 2)
        async let a = waiter.wait(for: 1)
        async let b = waiter.wait(for: 2)
        #expect(try await eventually { waiter.waiterCount == 2 })
        #expect(await waiter.wait(for: 3) == .full)
        waiter.advance(to: 2)
        #expect(await [a, b] == [.reached, .reached])
    }
}
