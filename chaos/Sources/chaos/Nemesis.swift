import ChaosCheck
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Injects one fault of a cycle and heals it. Targets are found at injection time (who leads
/// now) and picked among equals with the cycle's `choice`, so a seed replays the same schedule.
final class Nemesis {
    let cluster: Cluster
    let firewall: Firewall
    let log: RunnerLog

    /// What a fault did, so that healing can undo exactly that.
    enum Active {
        case killed([Int])
        case paused(Int)
        case firewall
        case skewed(Int)
        case filled(path: String)
        case fsyncFailing(Int)
        case delayed(ChildProcess)
    }

    init(cluster: Cluster, firewall: Firewall, log: RunnerLog) {
        self.cluster = cluster
        self.firewall = firewall
        self.log = log
    }

    struct Roles {
        var leader: Int
        var followers: [Int]
    }

    /// The group's leader now (or, when none answers, a member picked by `choice`) and the rest.
    func roles(group: Int, choice: UInt64) async -> Roles {
        let members = cluster.layout.members(ofGroup: group).map(\.index)
        let leader = await cluster.leader(ofGroup: group) ?? members[Int(choice % UInt64(members.count))]
        return Roles(leader: leader, followers: members.filter { $0 != leader })
    }

    func host(_ index: Int) -> String { cluster.layout.nodes[index].host }
    func name(_ index: Int) -> String { cluster.layout.nodes[index].name }

    /// Injects `cycle`'s fault; returns what to heal and a line saying what was done.
    /// `mark` is called when the targets are known, just before the fault is applied: the
    /// fault's start time.
    func inject(_ cycle: FaultCycle, mark: () -> Void) async throws -> (Active, String) {
        let group = Int(cycle.choice % UInt64(cluster.layout.groupCount))
        let roles = await roles(group: group, choice: cycle.choice >> 8)
        let pick = roles.followers[Int((cycle.choice >> 16) % UInt64(roles.followers.count))]
        let other = roles.followers.first { $0 != pick } ?? pick
        mark()
        switch cycle.kind {
        case .killLeader:
            cluster.kill(roles.leader)
            return (.killed([roles.leader]), "kill -9 leader \(name(roles.leader))")
        case .killFollower:
            cluster.kill(pick)
            return (.killed([pick]), "kill -9 follower \(name(pick))")
        case .killMajority:
            cluster.kill(roles.leader)
            cluster.kill(pick)
            return (.killed([roles.leader, pick]), "kill -9 leader \(name(roles.leader)) and follower \(name(pick))")
        case .killAll:
            let all = [roles.leader] + roles.followers
            for index in all { cluster.kill(index) }
            return (.killed(all), "kill -9 all of group \(group)")
        case .pauseLeader:
            cluster.signal(roles.leader, SIGSTOP)
            return (.paused(roles.leader), "SIGSTOP leader \(name(roles.leader))")
        case .partitionLeader:
            try firewall.drop(Firewall.between([host(roles.leader)], roles.followers.map(host)))
            return (.firewall, "leader \(name(roles.leader)) cut off from its followers (clients still reach it)")
        case .partitionFollower:
            try firewall.drop(Firewall.between([host(pick)], [roles.leader, other].map(host)))
            return (.firewall, "follower \(name(pick)) cut off from its group")
        case .partitionOneWay:
            try firewall.drop(roles.followers.map { Firewall.Link(from: host(roles.leader), to: host($0)) })
            return (.firewall, "one-way: leader \(name(roles.leader)) cannot reach its followers, they reach it")
        case .partitionBridge:
            try firewall.drop(Firewall.between([host(roles.leader)], [host(other)]))
            return (
                .firewall,
                "bridge: leader \(name(roles.leader)) and \(name(other)) cut apart, both reach \(name(pick))"
            )
        case .packetLoss:
            let members = [roles.leader] + roles.followers
            let links = members.flatMap { a in
                members.filter { $0 != a }.map { Firewall.Link(from: host(a), to: host($0)) }
            }
            try firewall.drop(links, percent: 30)
            return (.firewall, "30% packet loss on every link of group \(group)")
        case .delay:
            let members = [roles.leader] + roles.followers
            let links = members.flatMap { a in
                members.filter { $0 != a }.map { Firewall.Link(from: host(a), to: host($0)) }
            }
            let delayer = try await startDelayer(delayMillis: 100, jitterMillis: 50)
            do {
                try firewall.queue(links, queue: Self.delayQueue)
            } catch {
                delayer.killAndReap()
                throw error
            }
            return (.delayed(delayer), "100-150 ms delay on every link of group \(group)")
        case .clockSkew:
            guard cluster.tools.faketimeLibrary != nil else {
                throw NemesisError.unsupported("clock skew needs libfaketime")
            }
            let target = cycle.choice % 2 == 0 ? roles.leader : pick
            let skew = (cycle.choice >> 24) % 2 == 0 ? "+1h" : "-1h"
            try "\(skew)\n".write(toFile: cluster.layout.nodes[target].skewPath, atomically: true, encoding: .utf8)
            return (.skewed(target), "realtime clock of \(name(target)) moved \(skew)")
        case .diskFull:
            let path = cluster.layout.nodes[pick].ballastPath
            let bytes = try fill(path)
            return (.filled(path: path), "disk of follower \(name(pick)) filled (\(bytes / 1024) KiB ballast)")
        case .fsyncError:
            guard cluster.tools.fiuRun != nil else { throw NemesisError.unsupported("fsync errors need fiu-run") }
            let target = cycle.choice % 2 == 0 ? roles.leader : pick
            try fiuControl(target, "enable name=posix/io/sync/fsync,failinfo=5")
            return (.fsyncFailing(target), "fsync fails with EIO on \(name(target))")
        case .loseUnsynced:
            return try await loseUnsynced(pick)
        }
    }

    func heal(_ active: Active) async throws {
        switch active {
        case .killed(let indices):
            for index in indices { try cluster.start(index) }
        case .paused(let index):
            cluster.signal(index, SIGCONT)
        case .firewall:
            try firewall.heal()
        case .skewed(let index):
            try "+0\n".write(toFile: cluster.layout.nodes[index].skewPath, atomically: true, encoding: .utf8)
        case .filled(let path):
            guard unlink(path) == 0 else { throw NemesisError.system("removing \(path)", errno) }
        case .fsyncFailing(let index):
            try fiuControl(index, "disable name=posix/io/sync/fsync")
        case .delayed(let delayer):
            // Rules first (with no delayer bound, --queue-bypass lets packets through anyway),
            // then the delayer, whatever happened to the rules.
            defer { delayer.killAndReap() }
            try firewall.unqueue()
        }
    }

    /// After a fault that could not be injected or healed cleanly: no rules, no paused or
    /// stopped broker, no skew, no ballast. Each step is logged when it fails.
    func healEverything() {
        do {
            try firewall.heal()
            if cluster.tools.delayer != nil { try firewall.unqueue() }
        } catch {
            log.line("heal everything: \(error)")
        }
        for node in cluster.layout.nodes {
            cluster.signal(node.index, SIGCONT)
            do {
                try cluster.start(node.index)
                try "+0\n".write(toFile: node.skewPath, atomically: true, encoding: .utf8)
                let ballast = node.ballastPath
                if FileManager.default.fileExists(atPath: ballast) {
                    try FileManager.default.removeItem(atPath: ballast)
                }
                if cluster.tools.fiuRun != nil { try fiuControl(node.index, "disable name=posix/io/sync/fsync") }
            } catch {
                log.line("heal everything: \(node.name): \(error)")
            }
        }
    }

    static let delayQueue = 7

    /// The netfilter-queue delayer (chaos/tools/delayer.py), once it says it is bound.
    func startDelayer(delayMillis: Int, jitterMillis: Int) async throws -> ChildProcess {
        guard let command = cluster.tools.delayer else { throw NemesisError.unsupported("delay needs the delayer") }
        let logPath = cluster.layout.outDirectory + "/delayer.log"
        let delayer = ChildProcess(
            name: "delayer",
            arguments: command + [String(Self.delayQueue), String(delayMillis), String(jitterMillis)],
            logPath: logPath)
        try delayer.start()
        let ready = await cluster.waitUntil("the delayer to bind its queue", timeoutSecs: 10) {
            do {
                return try String(contentsOfFile: logPath, encoding: .utf8).contains("ready")
            } catch {
                return false  // not written yet
            }
        }
        guard ready, delayer.isRunning else {
            delayer.killAndReap()
            throw NemesisError.unsupported("the delayer did not start; see \(logPath)")
        }
        return delayer
    }

    /// A machine crash on one follower: kill -9, then everything its data files hold past the
    /// fsynced end it reported just before is zeroed (what a lost page cache leaves). The
    /// report is a few milliseconds old, so this may drop a little more than a real crash
    /// would: never less. Restarted at heal.
    func loseUnsynced(_ index: Int) async throws -> (Active, String) {
        guard let info = await cluster.status(index), let flushed = Int64(info["dLegerFlushedEnd"] ?? ""),
            let written = Int64(info["dLegerDataEnd"] ?? "")
        else {
            cluster.kill(index)
            return (.killed([index]), "kill -9 follower \(name(index)) (it did not report its fsynced end)")
        }
        cluster.kill(index)
        let directory = cluster.layout.nodes[index].dledgerDataDirectory
        var zeroed: Int64 = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() {
            guard let from = Int64(file), from + Int64(ClusterLayout.dataFileSize) > flushed else { continue }
            let keep = max(0, flushed - from)
            let path = directory + "/" + file
            guard truncate(path, off_t(keep)) == 0, truncate(path, off_t(ClusterLayout.dataFileSize)) == 0 else {
                throw NemesisError.system("zeroing the tail of \(path)", errno)
            }
            zeroed += max(0, min(written, from + Int64(ClusterLayout.dataFileSize)) - max(flushed, from))
        }
        return (
            .killed([index]),
            "machine crash of follower \(name(index)): kill -9, \(zeroed) unsynced bytes after \(flushed) zeroed"
        )
    }

    /// Takes every free byte of the filesystem holding `path`; returns how many. In steps of
    /// 1 MiB, then 4 KiB: tmpfs undoes a whole fallocate that runs out of space, and brokers
    /// keep writing while it fills.
    func fill(_ path: String) throws -> Int64 {
        let fd = open(path, O_CREAT | O_WRONLY, 0o644)
        guard fd >= 0 else { throw NemesisError.system("creating \(path)", errno) }
        defer { close(fd) }
        var size: Int64 = 0
        for step: Int64 in [1 << 20, 4096] {
            while true {
                let result = posix_fallocate(fd, off_t(size), off_t(step))
                if result == ENOSPC { break }
                guard result == 0 else { throw NemesisError.system("filling \(path)", result) }
                size += step
            }
        }
        return size
    }

    func fiuControl(_ index: Int, _ command: String) throws {
        let pid = cluster.brokers[index].pid
        try runTool(
            ["fiu-ctrl", "-f", cluster.layout.nodes[index].fiuControlPath, "-c", command, String(pid)], log: log.line
        ).orThrow("fiu-ctrl on \(name(index))")
    }
}

enum NemesisError: Error, CustomStringConvertible {
    case unsupported(String)
    case system(String, Int32)

    var description: String {
        switch self {
        case .unsupported(let what): "fault not available: \(what)"
        case .system(let what, let code): "\(what): \(String(cString: strerror(code)))"
        }
    }
}
