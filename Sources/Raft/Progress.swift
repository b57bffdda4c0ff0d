/// The leader's view of one follower (etcd's `Progress`).
struct Progress: Sendable, Equatable {
    enum State: Sendable, Equatable {
        /// One append at a time until the follower's position is known.
        case probe
        /// Position known: appends are pipelined, `next` advances optimistically.
        case replicate
    }

    /// Highest index known to be stored on the follower.
    var match: LogIndex = 0
    /// Next index to send. Invariant: match < next.
    var next: LogIndex
    var state: State = .probe
    var probeSent = false
    /// Last index of each append in flight (replicate state), oldest first.
    var inflight: [LogIndex] = []
    /// Heard from since the last check-quorum round.
    var recentActive = false
    /// The highest commit index sent to the follower (an append that tells nothing else is
    /// worth sending only while this lags).
    var sentCommit: LogIndex = 0

    init(next: LogIndex) { self.next = next }

    func isPaused(maxInflight: Int) -> Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inflight.count >= maxInflight
        }
    }

    /// Nothing in flight: new entries and commit news go at once rather than with the next batch.
    var isIdle: Bool {
        switch state {
        case .probe: !probeSent
        case .replicate: inflight.isEmpty
        }
    }

    mutating func becomeProbe() {
        state = .probe
        next = match + 1
        probeSent = false
        inflight = []
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        probeSent = false
        inflight = []
    }

    /// A success ack through `index`; false if it told nothing new.
    mutating func acknowledge(_ index: LogIndex) -> Bool {
        inflight.removeAll { $0 <= index }
        guard index > match else { return false }
        match = index
        next = max(next, index + 1)
        probeSent = false
        return true
    }

    /// A rejection of the append whose prevLogIndex was `rejected`; false if it is stale.
    mutating func decreaseTo(rejected: LogIndex, probeHint: LogIndex) -> Bool {
        switch state {
        case .replicate:
            guard rejected > match else { return false }
            becomeProbe()
            return true
        case .probe:
            guard next - 1 == rejected else { return false }
            if probeHint < match {
                // The follower's log is shorter than what it acknowledged: it lost entries that were
                // not on disk (ASYNC_FLUSH) or were damaged and cut at recovery. Believe it and resend;
                // entries committed before stay committed (the commit index never goes back).
                match = probeHint
            }
            next = max(min(rejected, probeHint + 1), match + 1)
            probeSent = false
            return true
        }
    }
}
