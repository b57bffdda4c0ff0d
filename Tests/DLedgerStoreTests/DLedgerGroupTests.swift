import DLedgerStore
import Logging
import NIOCore
import Storage
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Three members on loopback in this process, each with its own directory and free port.
final class LocalGroup {
    let root: String
    let peers: DLedgerPeers
    var servers: [DLedgerServer?]
    static let logger: Logger = {
        var logger = Logger(label: "dledger-group-test")
        logger.logLevel = .critical  // peers restarting on purpose log warnings
        return logger
    }()

    /// Overrides the members' `leaderlessGraceMillis`.
    let leaderlessGraceMillis: Int?

    init(syncFlush: Bool = false, leaderlessGraceMillis: Int? = nil) async throws {
        self.leaderlessGraceMillis = leaderlessGraceMillis
        root = try temporaryDirectory()
        let ports = (0..<3).map { _ in Self.freePort() }
        peers = try DLedgerPeers(parsing: ports.enumerated().map { "n\($0)-127.0.0.1:\($1)" }.joined(separator: ";"))
        servers = []
        for id in 0..<3 { servers.append(try await start(id, syncFlush: syncFlush)) }
    }

    func config(_ id: Int, syncFlush: Bool = false) -> DLedgerConfig {
        var config = DLedgerConfig(group: "g", selfId: "n\(id)", peers: peers, storeBaseDir: root)
        config.dataFileSize = 64 * 1024
        config.indexFileSize = 32 * 1024
        config.syncFlush = syncFlush
        if let leaderlessGraceMillis { config.leaderlessGraceMillis = leaderlessGraceMillis }
        return config
    }

    func start(_ id: Int, syncFlush: Bool = false) async throws -> DLedgerServer {
        let server = try DLedgerServer(config: config(id, syncFlush: syncFlush), logger: Self.logger)
        try await server.start()
        return server
    }

    var leader: DLedgerServer? {
        servers.compactMap { $0 }.first { $0.state.role == .leader && $0.state.leaderReady }
    }

    func stop(_ id: Int) async {
        await servers[id]?.shutdown()
        servers[id] = nil
    }

    func shutdown() async {
        for id in servers.indices { await stop(id) }
        _ = system("rm -rf '\(root)'")
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

@Suite(.serialized) struct DLedgerGroupTests {
    /// Appends `count` entries of `size` bytes on the leader and waits for the quorum.
    static func appendAll(_ leader: DLedgerServer, count: Int, tag: UInt8) async throws -> [Int64] {
        var ends: [Int64] = []
        for i in 0..<count {
            let entry = try leader.append(bodySize: 100) { _ in [UInt8](repeating: tag &+ UInt8(i % 200), count: 100) }
            ends.append(entry.end)
        }
        let result = await leader.committed.wait(for: ends.last!, timeout: .seconds(5))
        #expect(result == .reached)
        return ends
    }

    @Test func threeMembersElectALeaderReplicateAndFailOver() async throws {
        let group = try await LocalGroup()
        #expect(try await eventually { group.leader != nil }, "no leader within 10 s")
        let first = try #require(group.leader)
        let ends = try await Self.appendAll(first, count: 50, tag: 1)
        // Every member commits the same bytes.
        for server in group.servers.compactMap({ $0 }) {
            #expect(await server.committed.wait(for: ends.last!, timeout: .seconds(10)) == .reached)
        }
        // The leader goes away; the others elect a new one that holds everything.
        let old = group.servers.firstIndex { $0 === first }!
        let began = ContinuousClock.now
        await group.stop(old)
        #expect(try await eventually { group.leader != nil }, "no new leader after the old one stopped")
        let failover = ContinuousClock.now - began
        #expect(failover < .seconds(3), "failover took \(failover)")
        let second = try #require(group.leader)
        let more = try await Self.appendAll(second, count: 20, tag: 2)
        #expect(more.first! > ends.last!)
        // The old leader restarts, catches up, and its data files equal the leader's.
        group.servers[old] = try await group.start(old)
        let restarted = try #require(group.servers[old])
        #expect(await restarted.committed.wait(for: more.last!, timeout: .seconds(10)) == .reached)
        let leaderBytes = try second.read(offset: 0, count: Int(more.last!))
        let replicaBytes = try restarted.read(offset: 0, count: Int(more.last!))
        #expect(leaderBytes == replicaBytes)
        await group.shutdown()
    }

    /// Retention on the members drops old files; the group goes on committing. A member that was
    /// down and needs what the leader dropped restarts its log at the leader's first entry.
    @Test func retentionDropsOldFilesAndTheGroupCarriesOn() async throws {
        let group = try await LocalGroup()
        #expect(try await eventually { group.leader != nil })
        var leader = try #require(group.leader)
        let lagging = try #require(group.servers.firstIndex { $0 !== leader })
        _ = try await Self.appendAll(leader, count: 20, tag: 4)
        await group.stop(lagging)
        let ends = try await Self.appendAll(leader, count: 2000, tag: 5)  // about 3 data files of 64 KiB
        var deleted = 0
        for server in group.servers.compactMap({ $0 }) {
            deleted += server.deleteExpiredFiles(writtenBefore: nil, maxFiles: 10, below: ends.last!)
        }
        #expect(deleted >= 2)
        leader = try #require(group.leader)
        let more = try await Self.appendAll(leader, count: 50, tag: 6)
        group.servers[lagging] = try await group.start(lagging)
        let others = try await Self.appendAll(leader, count: 50, tag: 7)
        #expect(others.last! > more.last!)
        // It restarts its log at the leader's first entry and catches up; the bytes it has from
        // there equal the leader's.
        let restarted = try #require(group.servers[lagging])
        #expect(await restarted.committed.wait(for: others.last!, timeout: .seconds(10)) == .reached)
        let start = restarted.bounds.minOffset
        #expect(start == leader.bounds.minOffset)
        let count = Int(others.last! - start)
        #expect(try restarted.read(offset: start, count: count) == (try leader.read(offset: start, count: count)))
        await group.shutdown()
    }

    @Test func followersRefuseWritesWithTheLeadersId() async throws {
        let group = try await LocalGroup(syncFlush: true)
        #expect(try await eventually { group.leader != nil })
        let leader = try #require(group.leader)
        _ = try await Self.appendAll(leader, count: 5, tag: 3)
        let follower = try #require(group.servers.compactMap { $0 }.first { $0 !== leader })
        #expect(try await eventually { follower.state.leaderId != nil })
        #expect(throws: DLedgerServerError.notLeader(leaderId: leader.config.selfId)) {
            _ = try follower.append(bodySize: 1) { _ in [0] }
        }
        await group.shutdown()
    }
}
