import Common
import Remoting
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Client-unique message ids (UNIQ_KEY), Java's layout: ip 4 | pid 2 | random 4 |
/// milliseconds since the start of the month 4 | counter 2, as 32 uppercase hex characters.
final class MessageIDGenerator: Sendable {
    private let prefix: [UInt8]
    private let counter = Atomic<UInt16>(0)

    init(ip: [UInt8]) {
        var bytes = ip.count == 4 ? ip : [127, 0, 0, 1]
        let pid = UInt16(truncatingIfNeeded: getpid())
        bytes += [UInt8(pid >> 8), UInt8(pid & 0xFF)]
        let random = UInt32.random(in: 0...UInt32.max)
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: random >> (24 - 8 * $0)) }
        prefix = bytes
    }

    func next() -> String {
        let now = currentTimeMillis()
        var seconds = time_t(now / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let sinceMonth = UInt32(truncatingIfNeeded: Int64(parts.tm_mday - 1) * 86_400_000 + now % 86_400_000)
        let count = counter.wrappingAdd(1, ordering: .relaxed).newValue
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prefix.count + 6)
        bytes.append(contentsOf: prefix)
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: sinceMonth >> shift))
        }
        bytes.append(UInt8(count >> 8))
        bytes.append(UInt8(count & 0xFF))
        return MessageID.hex(bytes)
    }
}
