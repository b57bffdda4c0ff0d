import Foundation

/// nftables rules in the runner's private network namespace: packets between two broker
/// addresses are dropped (a partition), or a share of them (loss). Every packet of a loopback
/// connection passes the output hook once, so one chain there sees every link. Clients and
/// NameServers (127.0.0.1) are never named, so they keep reaching every broker.
struct Firewall {
    static let table = "chaos"
    let log: RunnerLog
    /// Where rule scripts are written before nft loads them.
    let scriptPath: String

    /// A directed link: packets from `from` to `to`.
    struct Link: Hashable, CustomStringConvertible {
        var from: String
        var to: String
        var description: String { "\(from)->\(to)" }
    }

    func install() throws {
        try nft(["add", "table", "inet", Self.table]).orThrow("creating the nft table")
        try nft([
            "add", "chain", "inet", Self.table, "output", "{ type filter hook output priority 0 ; policy accept ; }",
        ]).orThrow("creating the nft output chain")
    }

    /// Drops every packet on `links`, or `percent` % of them at random. All rules go in at once
    /// (one nft transaction from a script file), so a partition has one start time.
    func drop(_ links: [Link], percent: Int = 100) throws {
        let sample = percent < 100 ? " numgen random mod 100 < \(percent)" : ""
        let script = links.map { link in
            precondition(link.from.hasPrefix("127.") && link.to.hasPrefix("127."), "rules name loopback addresses only")
            return "add rule inet \(Self.table) output ip saddr \(link.from) ip daddr \(link.to)\(sample) drop\n"
        }.joined()
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        log.quiet("nft rules:\n" + script)
        try nft(["-f", scriptPath]).orThrow("adding drop rules for \(links)")
    }

    /// Both directions between every pair drawn from `a` × `b`.
    static func between(_ a: [String], _ b: [String]) -> [Link] {
        a.flatMap { x in b.flatMap { y in [Link(from: x, to: y), Link(from: y, to: x)] } }
    }

    /// Sends the packets of `links` through netfilter queue `queue` (the delayer): iptables,
    /// because nft's own `queue` verb is not built into this kernel.
    func queue(_ links: [Link], queue: Int) throws {
        for link in links {
            precondition(link.from.hasPrefix("127.") && link.to.hasPrefix("127."), "rules name loopback addresses only")
            try runTool(
                [
                    "iptables", "-A", "OUTPUT", "-s", link.from, "-d", link.to, "-j", "NFQUEUE", "--queue-num",
                    String(queue), "--queue-bypass",
                ], log: log.quiet
            ).orThrow("queueing \(link)")
        }
    }

    func unqueue() throws {
        try runTool(["iptables", "-F", "OUTPUT"], log: log.quiet).orThrow("flushing the iptables rules")
    }

    func heal() throws {
        try nft(["flush", "chain", "inet", Self.table, "output"]).orThrow("flushing the nft rules")
    }

    func remove() {
        do {
            try nft(["delete", "table", "inet", Self.table]).orThrow("deleting the nft table")
        } catch {
            log.line("cleanup: \(error)")
        }
    }

    private func nft(_ arguments: [String]) throws -> Int32 {
        try runTool(["nft"] + arguments, log: log.quiet)
    }
}
