import DequeModule
import Remoting
import Synchronization

/// The messages pulled from one queue and not yet consumed (`ProcessQueue`), in queue order.
///
/// The offset to commit is the lowest offset still cached, or one past the highest pulled once
/// everything is consumed: concurrent consumers may finish out of order, and an offset is never
/// committed past a message still in flight.
public final class ProcessQueue: Sendable {
    struct State {
        var pending: [Int64: MessageExt] = [:]
        var order: Deque<Int64> = []
        var highest: Int64 = -1
        var nextPullOffset: Int64
        /// The broker id the last pull response suggested (`suggestWhichBrokerId`).
        var suggestedBrokerId: Int64 = 0
        var dropped = false
        var locked = false
        var lastLockMillis: Int64 = 0
    }

    public let queue: MessageQueue
    let state: Mutex<State>
    /// Signalled when messages arrive (orderly consumption waits on it).
    let arrivals = AsyncEvent()

    init(queue: MessageQueue, nextPullOffset: Int64) {
        self.queue = queue
        state = Mutex(State(nextPullOffset: nextPullOffset))
    }

    var isDropped: Bool { state.withLock { $0.dropped } }
    var cachedCount: Int { state.withLock { $0.pending.count } }
    var nextPullOffset: Int64 {
        get { state.withLock { $0.nextPullOffset } }
        set { state.withLock { $0.nextPullOffset = newValue } }
    }

    var suggestedBrokerId: Int64 {
        get { state.withLock { $0.suggestedBrokerId } }
        set { state.withLock { $0.suggestedBrokerId = newValue } }
    }

    func drop() {
        state.withLock { $0.dropped = true }
        arrivals.signal()
    }

    /// Caches freshly pulled messages (in increasing queue offset).
    func put(_ messages: [MessageExt]) {
        state.withLock { state in
            for message in messages where message.queueOffset > state.highest {
                state.pending[message.queueOffset] = message
                state.order.append(message.queueOffset)
                state.highest = message.queueOffset
            }
        }
        arrivals.signal()
    }

    /// The first `count` cached messages, in order (orderly consumption).
    func first(_ count: Int) -> [MessageExt] {
        state.withLock { state in
            var messages: [MessageExt] = []
            for offset in state.order where messages.count < count {
                if let message = state.pending[offset] { messages.append(message) }
            }
            return messages
        }
    }

    /// Removes consumed messages; returns the offset to commit, or nil when nothing was ever
    /// pulled.
    @discardableResult
    func finish(_ offsets: [Int64]) -> Int64? {
        state.withLock { state in
            for offset in offsets { state.pending[offset] = nil }
            while let first = state.order.first, state.pending[first] == nil { state.order.removeFirst() }
            guard state.highest >= 0 else { return nil }
            return state.order.first ?? state.highest + 1
        }
    }

    // MARK: locks (orderly, clustering)

    func setLocked(_ locked: Bool, now: Int64) {
        state.withLock {
            $0.locked = locked
            if locked { $0.lastLockMillis = now }
        }
    }

    /// Holds a broker lock renewed within `maxAgeMillis`.
    func holdsLock(now: Int64, maxAgeMillis: Int64) -> Bool {
        state.withLock { $0.locked && now - $0.lastLockMillis <= maxAgeMillis }
    }
}

/// A wake-up flag for one waiter: `signal` before `wait` is not lost.
final class AsyncEvent: Sendable {
    struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.signalled = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns once signalled (immediately if already), or after `timeout`.
    func wait(timeout: Duration) async {
        let timer = Task {
            do {
                try await Task.sleep(for: timeout)
            } catch {
                return  // cancelled: the wait ended with a signal, which must not be signalled again
            }
            self.signal()
        }
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.signalled {
                    state.signalled = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
        timer.cancel()
        state.withLock { $0.signalled = false }
    }
}
