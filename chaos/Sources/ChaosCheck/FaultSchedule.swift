import Raft

/// The faults a chaos run can inject, by the names the summary counts them under.
public enum FaultKind: String, CaseIterable, Sendable, Codable {
    case killLeader = "kill_leader"
    case killFollower = "kill_follower"
    case killMajority = "kill_majority"
    case killAll = "kill_all"
    case pauseLeader = "pause_leader"
    case partitionLeader = "partition_leader"
    case partitionFollower = "partition_follower"
    case partitionOneWay = "partition_one_way"
    case partitionBridge = "partition_bridge"
    case packetLoss = "packet_loss"
    case delay = "delay"
    case clockSkew = "clock_skew"
    case diskFull = "disk_full"
    case fsyncError = "fsync_error"
    case loseUnsynced = "lose_unsynced"

    /// `--faults` takes kinds or these families.
    public static let families: [String: [FaultKind]] = [
        "kill": [.killLeader, .killFollower, .killMajority, .killAll],
        "pause": [.pauseLeader],
        "partition": [.partitionLeader, .partitionFollower, .partitionOneWay, .partitionBridge],
        "loss": [.packetLoss],
        "delay": [.delay],
        "clock": [.clockSkew],
        "disk": [.diskFull],
        "fsync": [.fsyncError],
        "unsynced": [.loseUnsynced],
        "all": FaultKind.allCases,
    ]

    /// Parses `kill,pause,partition_leader`: family names expand, order is kept, repeats drop.
    public static func parseList(_ text: String) throws(FaultListError) -> [FaultKind] {
        var kinds: [FaultKind] = []
        for word in text.split(separator: ",").map({ String($0).trimmingSpaces }) where !word.isEmpty {
            guard let expanded = families[word] ?? FaultKind(rawValue: word).map({ [$0] }) else {
                throw FaultListError(word: word)
            }
            for kind in expanded where !kinds.contains(kind) { kinds.append(kind) }
        }
        guard !kinds.isEmpty else { throw FaultListError(word: text) }
        return kinds
    }
}

public struct FaultListError: Error, CustomStringConvertible {
    public var word: String
    public var description: String {
        let names = (FaultKind.families.keys.sorted() + FaultKind.allCases.map(\.rawValue)).joined(separator: ", ")
        return "unknown fault `\(word)`; use a comma-separated list of: \(names)"
    }
}

/// One cycle: inject `kind`, hold it `holdMillis`, heal, wait for recovery. `choice` picks
/// among equal targets (which follower, which link) so the same seed picks the same ones.
public struct FaultCycle: Sendable, Equatable {
    public var index: Int
    public var kind: FaultKind
    public var holdMillis: Int
    public var choice: UInt64
}

/// A seeded schedule: every enabled kind appears equally often (shuffled in rounds), hold
/// times are drawn from `holdMillis`. The same seed and arguments give the same schedule.
public struct FaultSchedule: Sendable {
    public let cycles: [FaultCycle]

    public init(seed: UInt64, kinds: [FaultKind], count: Int, holdMillis: ClosedRange<Int>) {
        var rng = SplitMix64(seed: seed)
        var cycles: [FaultCycle] = []
        var round: [FaultKind] = []
        while cycles.count < count, !kinds.isEmpty {
            if round.isEmpty {
                round = kinds
                for i in stride(from: round.count - 1, to: 0, by: -1) {
                    round.swapAt(i, Int(rng.next() % UInt64(i + 1)))
                }
            }
            let span = UInt64(holdMillis.upperBound - holdMillis.lowerBound + 1)
            cycles.append(
                FaultCycle(
                    index: cycles.count, kind: round.removeFirst(),
                    holdMillis: holdMillis.lowerBound + Int(rng.next() % span), choice: rng.next()))
        }
        self.cycles = cycles
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
