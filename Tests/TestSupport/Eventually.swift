/// Waits for `condition` with a deadline: polls it every 10 ms until it holds or `seconds`
/// pass, and says whether it held. For state that no event announces (a thread's progress, a
/// clock); tests assert the result, so a condition that never holds fails the test.
public func eventually(_ seconds: Double = 10, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
