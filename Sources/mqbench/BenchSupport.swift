import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Nanoseconds of a monotonic clock since the load generator started (the body's send time).
enum BenchClock {
    static let start = DispatchTime.now().uptimeNanoseconds
    static func nanos() -> Int64 {
        let origin = start  // initialized on first use: read it before the current time
        return Int64(DispatchTime.now().uptimeNanoseconds) - Int64(origin)
    }
}

/// The workload's 1,024-byte body: id (u64 LE) | send time (i64 LE ns) | letters a–z from
/// xorshift32 seeded 2463534242, the same filler in every message.
struct BenchBody {
    static func filler(size: Int) -> [UInt8] {
        var state: UInt32 = 2_463_534_242
        return (0..<max(0, size - 16)).map { _ in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return UInt8(ascii: "a") + UInt8(state % 26)
        }
    }

    static func make(id: UInt64, filler: [UInt8]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(16 + filler.count)
        withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: BenchClock.nanos().littleEndian) { bytes.append(contentsOf: $0) }
        bytes += filler
        return bytes
    }

    /// (id, send time) from a body.
    static func parse(_ body: [UInt8]) -> (UInt64, Int64)? {
        guard body.count >= 16 else { return nil }
        let id = body[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let sent = body[8..<16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (id, Int64(bitPattern: sent))
    }
}

/// CPU time of processes and of the machine, for the output's CPU fields.
struct CPUSample {
    var processTicks: [Int32: Int64]
    /// The server pids in the order given (`--server-pids`), for per-process figures.
    var servers: [Int32] = []
    var ownTicks: Int64
    var machineBusy: Int64
    var machineTotal: Int64
    var wallNanos: Int64

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func take(servers: [Int32]) -> CPUSample {
        CPUSample(
            processTicks: Dictionary(servers.map { ($0, processTicks("/proc/\($0)/stat")) }) { first, _ in first },
            servers: servers, ownTicks: processTicks("/proc/self/stat"), machineBusy: machine().busy,
            machineTotal: machine().total,
            wallNanos: BenchClock.nanos())
    }

    /// utime + stime (fields 14 and 15 of /proc/<pid>/stat).
    static func processTicks(_ path: String) -> Int64 {
        guard let text = read(path), let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int64(fields[11]), let system = Int64(fields[12]) else { return 0 }
        return user + system
    }

    /// Busy (all but idle and iowait) and total jiffies of the machine.
    static func machine() -> (busy: Int64, total: Int64) {
        guard let line = read("/proc/stat")?.split(separator: "\n").first else { return (0, 0) }
        let values = line.split(separator: " ").dropFirst().compactMap { Int64($0) }
        guard values.count >= 5 else { return (0, 0) }
        let total = values.reduce(0, +)
        return (total - values[3] - values[4], total)
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// (servers, load generator, machine busy, other) in % of one core between two samples.
    static func usage(from start: CPUSample, to end: CPUSample) -> CPUUsage {
        let seconds = Double(end.wallNanos - start.wallNanos) / 1e9
        guard seconds > 0 else { return (0, 0, 0, 0, []) }
        func percent(_ ticks: Int64) -> Double { Double(ticks) / ticksPerSecond / seconds * 100 }
        // A process that exited reads as 0 ticks: it counts nothing rather than negative.
        func ticks(_ pid: Int32) -> Int64 { max(0, (end.processTicks[pid] ?? 0) - (start.processTicks[pid] ?? 0)) }
        let server = percent(end.processTicks.keys.reduce(0) { $0 + ticks($1) })
        let each = end.servers.map { percent(ticks($0)) }
        let loadgen = percent(end.ownTicks - start.ownTicks)
        let cores = Double(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let totalDelta = Double(end.machineTotal - start.machineTotal)
        let busy = totalDelta > 0 ? Double(end.machineBusy - start.machineBusy) / totalDelta * cores * 100 : 0
        return (server, loadgen, busy, max(0, busy - server - loadgen), each)
    }
}

/// CPU use in % of one core (the machine has 100 % per core): the servers', the load
/// generator's, the machine's busy time, the rest (`busy - server - loadgen`), and each server
/// process's share in `--server-pids` order.
typealias CPUUsage = (server: Double, loadgen: Double, busy: Double, other: Double, each: [Double])

/// Nearest-rank percentile of sorted values, in ms.
func percentileMillis(_ sortedNanos: [Int64], _ p: Double) -> Double {
    guard !sortedNanos.isEmpty else { return 0 }
    let rank = max(1, Int((p * Double(sortedNanos.count)).rounded(.up)))
    return Double(sortedNanos[min(rank, sortedNanos.count) - 1]) / 1e6
}

func rounded(_ value: Double, _ places: Double = 1000) -> Double { (value * places).rounded() / places }
