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
        // A stale signal from the cancelled timer, whenever it lands, ends the next wait early.
        let clock = ContinuousClock()
        let waited = await clock.measure { await event.wait(timeout: .milliseconds(300)) }
        #expect(waited >= .milliseconds(250), "the second wait returned after \(waited): a stale signal")
    }

    /// The wait's own timeout is an hour: only the signal (sent before or during the wait, it is
    /// not lost either way) can end it within the time limit.
    @Test(.timeLimit(.minutes(1))) func aSignalWakesAWaiterBeforeItsTimeout() async {
        let event = AsyncEvent()
        let wake = Task { event.signal() }
        await event.wait(timeout: .seconds(3600))
        await wake.value
    }
}
