import ArgumentParser
import ChaosCheck
import Common
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

@main
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Fault-injection runner: a real DLedger cluster, a recorded workload, faults on a seeded schedule, "
            + "and a checker that fails the run on any lost, unexpected, reordered or divergent message.",
        discussion: """
            Run it through chaos/run.sh, which creates the private network namespace (every node \
            gets its own 127.0.0.x there), installs the tools and builds the binaries. Writes \
            history.jsonl, summary.json, report.md and timeline.svg (and .png when a converter is \
            present) to --out; the last line printed is the summary; exit status 1 on any violation.
            """)

    @Option(help: "Fault cycles to run (fault, hold, heal, recover).") var cycles = 8
    @Option(
        help: "Faults to draw from: kinds or families (\(FaultKind.families.keys.sorted().joined(separator: ", "))).")
    var faults = "kill,pause,partition"
    @Option(help: "Seed of the schedule (default: from the clock; printed).") var seed: UInt64?
    @Option(help: "Output directory.") var out = "run/chaos"
    @Option(help: "Directory holding mqnamesrv and mqbroker.") var binDir: String?
    @Option(help: "Only check a recorded history.jsonl again (no cluster) and print its summary.")
    var recheck: String?
    @Option(help: "Broker config the members start from.") var template = "conf/dledger/broker-n0.conf"
    @Option(help: "flushDiskType of every broker (ASYNC_FLUSH or SYNC_FLUSH); the template's when not given.")
    var flushDiskType: String?
    @Option(help: "DLedger groups of 3 nodes.") var groups = 1
    @Option(help: "NameServers.") var namesrvs = 2
    @Option(help: "Shortest time a fault is held (ms).") var holdMinMillis = 3000
    @Option(help: "Longest time a fault is held (ms).") var holdMaxMillis = 6000
    @Option(help: "Time between a recovered cluster and the next fault (ms).") var settleMillis = 2000
    @Option(help: "Messages per second over all producers.") var rate = 60.0
    @Option(help: "Seconds to wait for the cluster to be whole after a heal.") var recoverySecs = 60.0

    func validate() throws {
        guard cycles >= 0, cycles <= 100_000 else { throw ValidationError("--cycles must be in 0...100000") }
        guard (1...8).contains(groups), (1...4).contains(namesrvs) else {
            throw ValidationError("--groups must be in 1...8 and --namesrvs in 1...4")
        }
        guard holdMinMillis >= 0, holdMaxMillis >= holdMinMillis, holdMaxMillis <= 600_000 else {
            throw ValidationError("need 0 <= --hold-min-millis <= --hold-max-millis <= 600000")
        }
        guard rate > 0, rate <= 10_000 else { throw ValidationError("--rate must be in (0, 10000]") }
        if let flushDiskType, !["ASYNC_FLUSH", "SYNC_FLUSH"].contains(flushDiskType) {
            throw ValidationError("--flush-disk-type must be ASYNC_FLUSH or SYNC_FLUSH")
        }
        _ = try FaultKind.parseList(faults)
    }

    func run() async throws {
        if let recheck {
            try Self.recheck(recheck)
            return
        }
        guard let binDir else { throw ValidationError("--bin-dir is needed to start a cluster") }
        let kinds = try FaultKind.parseList(faults)
        let seed = self.seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        try FileManager.default.createDirectory(atPath: out + "/nodes", withIntermediateDirectories: true)
        let log = try RunnerLog(path: out + "/runner.log")
        let command = Self.commandLine(seed: self.seed == nil ? seed : nil)
        log.line("\(command) → \(out)")
        let schedule = FaultSchedule(
            seed: seed, kinds: kinds, count: cycles, holdMillis: holdMinMillis...holdMaxMillis)
        var properties = PropertiesFile.parse(try String(contentsOfFile: template, encoding: .utf8))
        if let flushDiskType { properties["flushDiskType"] = flushDiskType }
        let layout = ClusterLayout(
            outDirectory: out, groups: groups, namesrvs: namesrvs, template: properties)
        let tools = Cluster.Tools(
            fiuRun: kinds.contains(.fsyncError) ? try Self.require("fiu-run") : nil,
            faketimeLibrary: kinds.contains(.clockSkew) ? try Self.requireFaketime() : nil,
            delayer: kinds.contains(.delay) ? try Self.requireDelayer() : nil)
        let cluster = Cluster(layout: layout, binDirectory: binDir, tools: tools, log: log)
        let firewall = Firewall(log: log, scriptPath: out + "/nft-rules.nft")
        let history = History()
        var errors: [String] = []
        var divergent = 0
        do {
            try firewall.install()
            try cluster.prepare()
            try cluster.startAll()
            let run = ChaosRun(
                cluster: cluster, nemesis: Nemesis(cluster: cluster, firewall: firewall, log: log), history: history,
                log: log, settleMillis: settleMillis, recoverySecs: recoverySecs, rate: rate)
            (errors, divergent) = try await run.execute(schedule)
        } catch {
            errors.append("runner: \(error)")
            log.line("runner failed: \(error)")
        }
        await cluster.stopAll(graceSecs: 10)
        firewall.remove()
        cluster.unmountAll()
        let passed = try writeResults(
            history: history, seed: seed, errors: errors, divergent: divergent, command: command, log: log)
        if !passed { throw ExitCode(1) }
    }

    /// history.jsonl, summary.json, report.md, timeline.svg (+ .png); prints the summary line.
    func writeResults(
        history: History, seed: UInt64, errors: [String], divergent: Int, command: String, log: RunnerLog
    ) throws -> Bool {
        let events = history.snapshot
        try history.write(to: out + "/history.jsonl")
        let outcomes = Availability.outcomes(events)
        let summary = RunSummary(
            seed: seed, cycles: outcomes.count, verdict: HistoryChecker().check(events), outcomes: outcomes,
            divergentReplicas: divergent, runnerErrors: errors)
        try (summary.jsonLine + "\n").write(toFile: out + "/summary.json", atomically: true, encoding: .utf8)
        let svg = TimelineSVG.render(events, outcomes: outcomes, title: "\(command): acknowledgements and faults")
        try svg.write(toFile: out + "/timeline.svg", atomically: true, encoding: .utf8)
        var picture = "timeline.svg"
        if let converter = Self.find("rsvg-convert") {
            if try runTool([converter, "-o", out + "/timeline.png", out + "/timeline.svg"], log: log.line) == 0 {
                picture = "timeline.png"
            }
        }
        try RunReport.render(summary, command: command, timeline: picture).write(
            toFile: out + "/report.md", atomically: true, encoding: .utf8)
        for error in errors { log.line("error: \(error)") }
        log.line("report: \(out)/report.md")
        print(summary.jsonLine)
        return summary.passed
    }

    /// The checker over a recorded history (the replica comparison needs the cluster: not here).
    static func recheck(_ path: String) throws {
        let decoder = JSONDecoder()
        let events = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try decoder.decode(HistoryEvent.self, from: Data($0.utf8))
        }
        let outcomes = Availability.outcomes(events)
        let summary = RunSummary(
            seed: 0, cycles: outcomes.count, verdict: HistoryChecker().check(events), outcomes: outcomes,
            divergentReplicas: 0, runnerErrors: [])
        print(summary.jsonLine)
        if !summary.passed { throw ExitCode(1) }
    }

    /// How to run this again: run.sh with the arguments given (less --bin-dir, which run.sh
    /// adds), plus the seed drawn when none was given.
    static func commandLine(seed drawn: UInt64?) -> String {
        var words: [String] = []
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let word = arguments.next() {
            if word == "--bin-dir" {
                _ = arguments.next()
            } else if !word.hasPrefix("--bin-dir=") {
                words.append(word)
            }
        }
        if let drawn { words += ["--seed", String(drawn)] }
        return (["chaos/run.sh"] + words).joined(separator: " ")
    }

    static func find(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map { "\($0)/\(tool)" }.first { access($0, X_OK) == 0 }
    }

    static func require(_ tool: String) throws -> String {
        guard let found = find(tool) else {
            throw ValidationError("\(tool) is not installed (chaos/run.sh installs it)")
        }
        return found
    }

    /// python3 with the netfilterqueue module, running chaos/tools/delayer.py.
    static func requireDelayer() throws -> [String] {
        let python = try require("python3")
        let status = try runTool([python, "-c", "import netfilterqueue"], log: { _ in })
        guard status == 0 else {
            throw ValidationError("the delay fault needs python's netfilterqueue (chaos/run.sh installs it)")
        }
        return [python, "chaos/tools/delayer.py"]
    }

    static func requireFaketime() throws -> String {
        let candidates = [
            "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
            "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
        ]
        guard let library = candidates.first(where: { access($0, R_OK) == 0 }) else {
            throw ValidationError("libfaketime is not installed (chaos/run.sh installs it)")
        }
        return library
    }
}
