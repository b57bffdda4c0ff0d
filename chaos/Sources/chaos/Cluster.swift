import Client
import Common
import Foundation
import Logging
import Remoting

#if canImport(Glibc)
    import Glibc
#endif

/// The cluster's processes and what the runner asks of them: start, kill, pause, restart, who
/// leads each DLedger group, and whether the cluster is whole. Owned by the runner's main flow.
final class Cluster {
    struct Tools {
        /// `fiu-run`: brokers start under it so fsync can be made to fail at run time.
        var fiuRun: String?
        /// libfaketime (MT): brokers' realtime clocks follow their `clock-skew` file.
        var faketimeLibrary: String?
        /// The packet delayer's command line (chaos/tools/delayer.py under python3).
        var delayer: [String]?
    }

    let layout: ClusterLayout
    let binDirectory: String
    let tools: Tools
    let admin: MQAdmin
    let log: RunnerLog
    var namesrvs: [ChildProcess] = []
    var brokers: [ChildProcess] = []
    var mounted: [String] = []
    static let storeSizeMiB = 256

    init(layout: ClusterLayout, binDirectory: String, tools: Tools, log: RunnerLog) {
        self.layout = layout
        self.binDirectory = binDirectory
        self.tools = tools
        self.log = log
        admin = MQAdmin(api: MQClientAPI(namesrvAddr: layout.namesrvAddr, logger: .quiet("chaos.admin")))
    }

    // MARK: processes

    /// Directories, a tmpfs store per broker, config files, clock-skew files.
    func prepare() throws {
        for index in layout.namesrvAddresses.indices {
            let directory = layout.namesrvDirectory(index)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try PropertiesFile.render(layout.namesrvProperties(index)).write(
                toFile: directory + "/namesrv.conf", atomically: true, encoding: .utf8)
            namesrvs.append(
                ChildProcess(
                    name: "namesrv\(index)",
                    arguments: [binDirectory + "/mqnamesrv", "-c", directory + "/namesrv.conf"],
                    logPath: directory + "/namesrv.log"))
        }
        for node in layout.nodes {
            try FileManager.default.createDirectory(atPath: node.storeDirectory, withIntermediateDirectories: true)
            try runTool(
                ["mount", "-t", "tmpfs", "-o", "size=\(Self.storeSizeMiB)m", "tmpfs", node.storeDirectory],
                log: log.line
            ).orThrow("mounting a tmpfs on \(node.storeDirectory)")
            mounted.append(node.storeDirectory)
            try
                ("# Written by the chaos runner from conf/dledger.\n"
                + PropertiesFile.render(layout.brokerProperties(node)))
                .write(toFile: node.confPath, atomically: true, encoding: .utf8)
            try "+0\n".write(toFile: node.skewPath, atomically: true, encoding: .utf8)
            var arguments = [binDirectory + "/mqbroker", "-c", node.confPath]
            var environment: [String: String] = [:]
            // Its control FIFOs go in the node's directory (fiu-run's default is /tmp).
            if let fiuRun = tools.fiuRun { arguments = [fiuRun, "-x", "-f", node.fiuControlPath] + arguments }
            if let library = tools.faketimeLibrary {
                // Realtime only: a faked monotonic clock hangs Swift's Task.sleep.
                environment = [
                    "LD_PRELOAD": library, "FAKETIME_TIMESTAMP_FILE": node.skewPath,
                    "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                    "FAKETIME_CACHE_DURATION": "1",
                ]
            }
            brokers.append(
                ChildProcess(name: node.name, arguments: arguments, environment: environment, logPath: node.logPath))
        }
    }

    func startAll() throws {
        for process in namesrvs { try process.start() }
        for index in brokers.indices { try start(index) }
    }

    func start(_ index: Int) throws {
        guard !brokers[index].isRunning else { return }
        try brokers[index].start()
        log.line("started \(brokers[index].name) (pid \(brokers[index].pid))")
    }

    func kill(_ index: Int) {
        brokers[index].killAndReap()
        log.line("killed \(brokers[index].name) with SIGKILL")
    }

    func signal(_ index: Int, _ signal: Int32) { brokers[index].signal(signal) }

    /// Everything the runner started ends: brokers and NameServers by SIGTERM (SIGKILL after
    /// `graceSecs`), then the tmpfs stores are unmounted.
    func stopAll(graceSecs: Double) async {
        for process in brokers { process.signal(SIGCONT) }
        for process in brokers { await process.stop(timeoutSecs: graceSecs) }
        for process in namesrvs { await process.stop(timeoutSecs: graceSecs) }
    }

    func unmountAll() {
        for directory in mounted {
            do {
                try runTool(["umount", "-l", directory], log: log.line).orThrow("unmounting \(directory)")
            } catch {
                log.line("cleanup: \(error)")
            }
        }
        mounted = []
    }

    // MARK: state

    /// A broker's runtime info, or nil when it does not answer within `timeoutMillis`.
    func status(_ index: Int, timeoutMillis: Int64 = 800) async -> [String: String]? {
        guard brokers[index].isRunning else { return nil }
        do {
            return try await admin.brokerRuntimeInfo(layout.nodes[index].remotingAddress, timeoutMillis: timeoutMillis)
        } catch {
            return nil
        }
    }

    /// The member that leads `group` now (the highest term's LEADER), if any answers as one.
    func leader(ofGroup group: Int) async -> Int? {
        var best: (index: Int, term: Int64)?
        for node in layout.members(ofGroup: group) {
            guard let info = await status(node.index), info["dLegerRole"] == "LEADER",
                let term = Int64(info["dLegerTerm"] ?? "")
            else { continue }
            if best == nil || term > best!.term { best = (node.index, term) }
        }
        return best?.index
    }

    /// Whole: every broker runs and answers, each group has one ready master (a DLedger leader
    /// serving as master), and the NameServers route to it.
    func isWhole() async -> Bool {
        let cluster: (brokers: [BrokerData], clusters: [String: [String]])
        do {
            cluster = try await admin.clusterInfo()
        } catch {
            return false  // a NameServer that does not answer: not whole yet
        }
        for group in 0..<layout.groupCount {
            var masters: [String] = []
            for node in layout.members(ofGroup: group) {
                guard let info = await status(node.index) else { return false }
                if info["dLegerRole"] == "LEADER", info["brokerRole"] != "SLAVE" {
                    masters.append(node.remotingAddress)
                }
            }
            let name = layout.members(ofGroup: group)[0].brokerName
            guard masters.count == 1,
                cluster.brokers.first(where: { $0.brokerName == name })?.masterAddress == masters[0]
            else { return false }
        }
        return true
    }

    /// Every member of every group reports the same end and committed index.
    func isCaughtUp() async -> (Bool, [Int: Int64]) {
        var committed: [Int: Int64] = [:]
        for group in 0..<layout.groupCount {
            var ends = Set<String>()
            for node in layout.members(ofGroup: group) {
                guard let info = await status(node.index), let end = info["dLegerEndIndex"],
                    let commit = Int64(info["dLegerCommittedIndex"] ?? "")
                else { return (false, committed) }
                ends.insert(end + "/" + String(commit))
                committed[node.index] = commit
            }
            if ends.count != 1 { return (false, committed) }
        }
        return (true, committed)
    }

    /// Polls `condition` every 100 ms until it holds or `timeoutSecs` pass.
    func waitUntil(_ what: String, timeoutSecs: Double, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSecs * 1000))
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        log.line("gave up waiting after \(timeoutSecs) s for: \(what)")
        return false
    }
}
