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
    func inject(_ cycle: FaultCycle) async throws -> (Active, String) {
        let group = Int(cycle.choice % UInt64(cluster.layout.groupCount))
        let roles = await roles(group: group, choice: cycle.choice >> 8)
        let pick = roles.followers[Int((cycle.choice >> 16) % UInt64(roles.followers.count))]
        let other = roles.followers.first { $0 != pick } ?? pick
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
            let links = members.flatMap { a in members.filter { $0 != a }.map { Firewall.Link(from: host(a), to: host($0)) } }
            try firewall.drop(links, percent: 30)
            return (.firewall, "30% packet loss on every link of group \(group)")
        case .delay:
            throw NemesisError.unsupported("delay: this machine has no netem; see docs/chaos.md")
        case .clockSkew:
            guard cluster.tools.faketimeLibrary != nil else { throw NemesisError.unsupported("clock skew needs libfaketime") }
            let target = cycle.choice % 2 == 0 ? roles.leader : pick
            let skew = (cycle.choice >> 24) % 2 == 0 ? "+1h" : "-1h"
            try "\(skew)\n".write(toFile: cluster.layout.nodes[target].skewPath, atomically: true, encoding: .utf8)
            return (.skewed(target), "realtime clock of \(name(target)) moved \(skew)")
        case .diskFull:
            let path = cluster.layout.nodes[pick].storeDirectory + "/chaos-ballast"
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
        }
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

    /// Takes every free byte of the filesystem holding `path`; returns how many.
    func fill(_ path: String) throws -> Int64 {
        var info = statvfs()
        let directory = (path as NSString).deletingLastPathComponent
        guard statvfs(directory, &info) == 0 else { throw NemesisError.system("statvfs \(directory)", errno) }
        let free = Int64(info.f_bavail) * Int64(info.f_frsize)
        let fd = open(path, O_CREAT | O_WRONLY, 0o644)
        guard fd >= 0 else { throw NemesisError.system("creating \(path)", errno) }
        defer { close(fd) }
        let result = posix_fallocate(fd, 0, off_t(free))
        guard result == 0 || result == ENOSPC else { throw NemesisError.system("filling \(path)", result) }
        return free
    }

    func fiuControl(_ index: Int, _ command: String) throws {
        let pid = cluster.brokers[index].pid
        try runTool(["fiu-ctrl", "-c", command, String(pid)], log: log.line).orThrow("fiu-ctrl on \(name(index))")
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
