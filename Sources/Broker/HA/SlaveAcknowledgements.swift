import Common
import Storage
import Synchronization

/// What a SYNC_MASTER put waits on: how far its slaves have stored the CommitLog
/// (`push2SlaveMaxOffset`, an `OffsetWaiter` like the SYNC_FLUSH and DLedger quorum waits), and
/// whether a slave is there at all.
public final class SlaveAcknowledgements: Sendable {
    /// How a put's wait for its slave ended.
    public enum Outcome: Sendable, Equatable {
        case stored
        /// No slave is connected, or the closest is more than `haSlaveFallbehindMax` behind.
        case noSlave
        /// A slave is there but did not confirm in time: the message is stored on the master.
        case timedOut
    }

    let acked = OffsetWaiter()
    /// The latest acknowledgement per connected slave.
    let slaves = Mutex<[Int: Int64]>([:])
    let fallBehindMax: Int64
    let timeout: Duration

    init(fallBehindMax: Int64, timeout: Duration) {
        self.fallBehindMax = fallBehindMax
        self.timeout = timeout
    }

    func acknowledged(connection: Int, through offset: Int64) {
        slaves.withLock { $0[connection] = offset }
        acked.advance(to: offset)
    }

    func disconnected(connection: Int) { _ = slaves.withLock { $0.removeValue(forKey: connection) } }

    public var connectedSlaves: Int { slaves.withLock { $0.count } }

    /// RocketMQ's `isSlaveOK`: a slave is connected, and the master is less than
    /// `haSlaveFallbehindMax` ahead of what it acknowledged.
    func slaveIsAvailable(masterEnd: Int64) -> Bool {
        guard let best = slaves.withLock({ $0.values.max() }) else { return false }
        return masterEnd.saturatingSubtracting(best) < fallBehindMax
    }

    /// Waits until a slave has stored everything up to `end`.
    func waitForSlave(upTo end: Int64) async -> Outcome {
        guard slaveIsAvailable(masterEnd: end) else { return .noSlave }
        switch await acked.wait(for: end, timeout: timeout) {
        case .reached: return .stored
        case .timedOut, .failed, .full: return .timedOut
        }
    }
}
