import Testing

@testable import Client

struct AsyncEventTests {
    /// Found by the chaos runner (a client at 160 % CPU with nothing to consume): the timer of a
    /// wait that ended with a signal, once cancelled, signalled the event itself, so the next
    /// wait returned at once and every idle orderly consume loop spun.
    @Test func aWaitEndedBySignalLeavesNoSignalBehind() async throws {
        let event = AsyncEvent()
        event.signal()
        await event.wait(timeout: .seconds(5))  // returns at once: it was signalled
        try await Task.sleep(for: .milliseconds(50))  // the cancelled timer has run by now
        let clock = ContinuousClock()
        let waited = await clock.measure { await event.wait(timeout: .milliseconds(300)) }
        #expect(waited >= .milliseconds(250), "the second wait returned after \(waited): a stale signal")
    }

    @Test func aSignalWakesAWaiterBeforeItsTimeout() async throws {
        let event = AsyncEvent()
        let clock = ContinuousClock()
        let waited = await clock.measure {
            let wake = Task {
                try await Task.sleep(for: .milliseconds(50))
                event.signal()
            }
            await event.wait(timeout: .seconds(10))
            _ = await wake.result
        }
        #expect(waited < .seconds(5))
    }
}
