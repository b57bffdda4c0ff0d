import Synchronization

/// Long polling (`PullRequestHoldService`): a pull that found nothing waits here until a message
/// arrives in its queue or its deadline passes.
public final class PullRequestHoldService: Sendable {
    struct Waiter {
        var id: UInt64
        var deadlineMillis: Int64
        var continuation: CheckedContinuation<Void, Never>
    }
    struct State {
        var waiters: [TopicQueueKey: [Waiter]] = [:]
        var nextId: UInt64 = 0
        var stopped = false
    }
    let state = Mutex(State())

    public init() {}

    /// Waits for an arrival in `key` or until `deadlineMillis`. `hasNewData` is checked after
    /// registering, so an arrival between the caller's read and the wait is never missed.
    public func wait(for key: TopicQueueKey, deadlineMillis: Int64, hasNewData: @Sendable () -> Bool) async {
        await withCheckedContinuation { continuation in
            let register = state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.nextId += 1
                state.waiters[key, default: []].append(
                    Waiter(id: state.nextId, deadlineMillis: deadlineMillis, continuation: continuation))
                return true
            }
            guard register else { return continuation.resume() }
            if hasNewData() { notify([key]) }
        }
    }

    /// Wakes every pull waiting on these queues.
    public func notify(_ keys: [TopicQueueKey]) {
        let woken = state.withLock { state in
            keys.flatMap { state.waiters.removeValue(forKey: $0) ?? [] }
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Wakes pulls whose deadline passed.
    public func expire(now: Int64) {
        let woken = state.withLock { state -> [Waiter] in
            var expired: [Waiter] = []
            for (key, waiters) in state.waiters {
                let (due, kept) = (
                    waiters.filter { $0.deadlineMillis <= now }, waiters.filter { $0.deadlineMillis > now }
                )
                expired += due
                state.waiters[key] = kept.isEmpty ? nil : kept
            }
            return expired
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Wakes everyone and refuses new waits (shutdown).
    public func stop() {
        let all = state.withLock { state in
            state.stopped = true
            defer { state.waiters.removeAll() }
            return state.waiters.values.flatMap { $0 }
        }
        for waiter in all { waiter.continuation.resume() }
    }
}
