import DequeModule
import Synchronization

/// How a wait on an `OffsetWaiter` ended.
public enum OffsetWaitResult: Sendable, Equatable {
    /// The watched offset reached the one waited for.
    case reached
    /// The deadline passed first. The outcome is unknown: the offset may still be reached.
    case timedOut
    /// The owner gave up on offsets it had not reached (an fsync failed, leadership was lost).
    case failed(String)
    /// Too many waiters already: the caller was turned away without waiting.
    case full
}

/// Waiters on one monotonically advancing offset: how far the CommitLog is fsynced (SYNC_FLUSH
/// group commit), how far a quorum has it (the DLedger commit), how far a slave acknowledged it
/// (master/slave HA). The owner of the offset calls `advance(to:)`; each waiter resumes once the
/// offset is at or past its own, when its deadline passes, or when the owner calls `fail`.
///
/// Invariant: `reached` never decreases, and `waiters` is sorted by offset.
public final class OffsetWaiter: Sendable {
    struct Waiter {
        var offset: Int64
        var deadline: ContinuousClock.Instant?
        var continuation: CheckedContinuation<OffsetWaitResult, Never>
    }
    struct State {
        var reached: Int64
        var waiters = Deque<Waiter>()
        var sweeping = false
    }

    let state: Mutex<State>
    /// Bounds the waiters (RocketMQ's LEADER_PENDING_FULL): beyond it `wait` answers `.full`.
    public let maxWaiters: Int

    public init(reached: Int64 = 0, maxWaiters: Int = 100_000) {
        precondition(maxWaiters > 0, "maxWaiters must be positive")
        state = Mutex(State(reached: reached))
        self.maxWaiters = maxWaiters
    }

    /// How far the offset has advanced.
    public var reached: Int64 { state.withLock { $0.reached } }
    public var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Waits until the offset is at or past `offset`, or `timeout` passes.
    public func wait(for offset: Int64, timeout: Duration? = nil) async -> OffsetWaitResult {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        return await withCheckedContinuation { continuation in
            enum Action {
                case resume(OffsetWaitResult)
                case wait, startSweeper
            }
            let action = state.withLock { state -> Action in
                if offset <= state.reached { return .resume(.reached) }
                if state.waiters.count >= maxWaiters { return .resume(.full) }
                let waiter = Waiter(offset: offset, deadline: deadline, continuation: continuation)
                // Waits arrive almost in offset order: insert from the back.
                var position = state.waiters.count
                while position > 0, state.waiters[position - 1].offset > offset { position -= 1 }
                state.waiters.insert(waiter, at: position)
                guard deadline != nil, !state.sweeping else { return .wait }
                state.sweeping = true
                return .startSweeper
            }
            switch action {
            case .resume(let result): continuation.resume(returning: result)
            case .wait: break
            case .startSweeper: Task { await self.sweepDeadlines() }
            }
        }
    }

    /// The offset advanced: everyone waiting for `offset` or less resumes with `.reached`.
    public func advance(to offset: Int64) {
        let ready = state.withLock { state -> [Waiter] in
            guard offset > state.reached else { return [] }
            state.reached = offset
            var ready: [Waiter] = []
            while let first = state.waiters.first, first.offset <= offset {
                ready.append(state.waiters.removeFirst())
            }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: .reached) }
    }

    /// Resumes every current waiter with `.failed(reason)`; later waits are not affected.
    public func fail(_ reason: String) {
        let all = state.withLock { state -> Deque<Waiter> in
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in all { waiter.continuation.resume(returning: .failed(reason)) }
    }

    /// Resumes waiters whose deadline is before `now` with `.timedOut`; returns the earliest
    /// deadline still pending, or nil when no waiter has one.
    @discardableResult
    func expire(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        let (expired, next) = state.withLock { state -> ([Waiter], ContinuousClock.Instant?) in
            var expired: [Waiter] = []
            var kept = Deque<Waiter>()
            var next: ContinuousClock.Instant?
            for waiter in state.waiters {
                if let deadline = waiter.deadline {
                    if deadline <= now {
                        expired.append(waiter)
                        continue
                    }
                    next = min(next ?? deadline, deadline)
                }
                kept.append(waiter)
            }
            if !expired.isEmpty { state.waiters = kept }
            if next == nil { state.sweeping = false }
            return (expired, next)
        }
        for waiter in expired { waiter.continuation.resume(returning: .timedOut) }
        return next
    }

    /// How late a timeout may fire: a waiter added while the sweeper sleeps towards a later
    /// deadline is seen at the next wake-up.
    public static let sweepGranularity = Duration.milliseconds(10)

    /// Runs while some waiter has a deadline: sleeps until the earliest one, then expires.
    private func sweepDeadlines() async {
        var next = expire(now: .now)
        while let deadline = next {
            // Only cancellation ends a sleep early, and that only makes the sweep early.
            try? await Task.sleep(until: min(deadline, .now + Self.sweepGranularity), clock: .continuous)
            next = expire(now: .now)
        }
    }
}
