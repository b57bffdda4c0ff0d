import Common
import Synchronization

/// What keeps a server's memory bounded whatever its peers send or fail to read.
public struct RemotingLimits: Sendable, Equatable {
    /// The largest frame accepted; a longer length word closes the connection.
    public var maxFrameLength = RemotingCommand.defaultMaxFrameLength
    /// Requests of one connection being handled at once. Past this the connection is not read
    /// until one finishes, so a pipelining client waits in its own socket buffer, not in ours.
    public var maxInflightRequestsPerConnection = 1024
    /// Bytes of unfinished frames all connections may hold together (see `PartialFrameBudget`).
    public var partialFrameBudgetBytes = 64 * 1024 * 1024
    /// Outbound bytes queued on a connection above which it stops being read (NIO writability),
    /// and below which reading resumes.
    public var writeBufferHighWaterMark = 4 * 1024 * 1024
    public var writeBufferLowWaterMark = 1024 * 1024

    public init() {}
}

/// The server-wide budget for bytes of frames still arriving. Every connection reports how many
/// bytes of an unfinished frame it holds. Growth that takes the total over the budget is refused
/// (the connection is closed) for a connection holding more than its fair share, the budget
/// divided by the connections holding partial frames; smaller holders may still grow, so a
/// flood of large unfinished frames cannot starve a client sending small ones. The total stays
/// below about twice the budget.
public final class PartialFrameBudget: Sendable {
    public let limitBytes: Int
    private let total = Atomic<Int>(0)
    private let holders = Atomic<Int>(0)

    public init(limitBytes: Int) { self.limitBytes = limitBytes }

    public var heldBytes: Int { total.load(ordering: .relaxed) }

    /// Moves one connection's holding from `old` to `new` bytes. False when the growth is refused;
    /// the holding is then still `old`.
    public func update(from old: Int, to new: Int) -> Bool {
        guard new != old else { return true }
        let delta = new - old
        if delta > 0 {
            let after = total.add(delta, ordering: .relaxed).newValue
            let share = limitBytes / max(1, holders.load(ordering: .relaxed) + (old == 0 ? 1 : 0))
            if after > limitBytes, new > share {
                total.subtract(delta, ordering: .relaxed)
                return false
            }
        } else {
            total.subtract(-delta, ordering: .relaxed)
        }
        if old == 0 { holders.add(1, ordering: .relaxed) }
        if new == 0 { holders.subtract(1, ordering: .relaxed) }
        return true
    }
}

extension RemotingLimits {
    /// Reads the limits from a broker's or NameServer's properties (the same keys for both).
    public init(_ reader: inout ConfigReader) throws(ConfigError) {
        self.init()
        maxFrameLength = try reader.int("maxFrameLength", default: maxFrameLength, range: 1024...(1 << 30))
        maxInflightRequestsPerConnection = try reader.int(
            "maxInflightRequestsPerConnection", default: maxInflightRequestsPerConnection, range: 1...1_000_000)
        partialFrameBudgetBytes = try reader.int(
            "partialFrameBudgetBytes", default: partialFrameBudgetBytes, range: 1024...(1 << 40))
        writeBufferHighWaterMark = try reader.int(
            "writeBufferHighWaterMark", default: writeBufferHighWaterMark, range: 1024...(1 << 30))
        writeBufferLowWaterMark = try reader.int(
            "writeBufferLowWaterMark", default: writeBufferLowWaterMark, range: 0...(1 << 30))
        guard writeBufferLowWaterMark <= writeBufferHighWaterMark else {
            throw ConfigError(
                "writeBufferLowWaterMark=\(writeBufferLowWaterMark) is above writeBufferHighWaterMark=\(writeBufferHighWaterMark)"
            )
        }
    }

    public var properties: [String: String] {
        [
            "maxFrameLength": String(maxFrameLength),
            "maxInflightRequestsPerConnection": String(maxInflightRequestsPerConnection),
            "partialFrameBudgetBytes": String(partialFrameBudgetBytes),
            "writeBufferHighWaterMark": String(writeBufferHighWaterMark),
            "writeBufferLowWaterMark": String(writeBufferLowWaterMark),
        ]
    }
}
