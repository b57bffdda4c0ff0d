import Common
import Synchronization

/// When one side of an HA connection last heard from the other: either side closes the
/// connection after `haHousekeepingInterval` of silence.
final class HALiveness: Sendable {
    let lastHeard = Atomic<Int64>(currentTimeMillis())
    let limitMillis: Int64

    init(limitMillis: Int) { self.limitMillis = Int64(limitMillis) }

    func heard() { lastHeard.store(currentTimeMillis(), ordering: .relaxed) }

    /// Returns never; throws once the peer has been silent for longer than the limit.
    func watch() async throws {
        while true {
            try await Task.sleep(for: .milliseconds(min(1000, limitMillis)))
            let silent = currentTimeMillis() - lastHeard.load(ordering: .relaxed)
            if silent > limitMillis { throw HAConnectionError.silent(millis: silent) }
        }
    }
}
