import Logging
import NIOCore
import Raft
import Remoting
import Synchronization

/// The peer network of one member: a remoting server on its own `dLegerPeers` address that
/// receives the peers' frames, and one outgoing connection per peer that carries ours.
///
/// - A frame from something that is not a peer of this group (or a peer configured with a
///   different peer list) or a frame that does not decode is logged and its connection closed.
/// - A closed incoming connection from a peer is reported (`connectionLost`): a killed process
///   resets its sockets, so followers of a dead leader campaign at once.
/// - Backpressure: a connection whose write buffer is full drops frames (Raft retransmits);
///   an unreachable peer is retried at most every `reconnectMillis`.
final class DLedgerTransport: Sendable {
    let identity: DLedgerWire.Identity
    let peers: DLedgerPeers
    let selfPeer: DLedgerPeers.Peer
    let logger: Logger
    let deliver: @Sendable (DLedgerWire.Frame) -> Void
    let connectionLost: @Sendable (NodeID) -> Void
    let server: RemotingServer
    let forwarder = Forwarder()
    let client: RemotingClient
    static let reconnectMillis: Int64 = 200

    struct Links {
        /// Incoming connections by connection id, once a valid frame named the peer.
        var inbound: [UInt64: NodeID] = [:]
        /// When the last connect to each peer started.
        var lastAttempt: [UInt64: ContinuousClock.Instant] = [:]
        /// Peers whose connection failed and was logged (one line per outage).
        var down: Set<UInt64> = []
        /// Frames waiting for a connection being made (bounded: older ones are dropped).
        var waiting: [UInt64: [RemotingCommand]] = [:]
        var dropped = 0
        /// Connects in progress, by peer; shutdown waits for them (a connect cut off by the event
        /// loop group's shutdown would leave its promise unfulfilled).
        var connects: [UInt64: Task<Void, Never>] = [:]
        var stopped = false
    }
    static let maxWaitingFrames = 64
    let links = Mutex(Links())

    init(
        identity: DLedgerWire.Identity, peers: DLedgerPeers, selfPeer: DLedgerPeers.Peer, logger: Logger,
        deliver: @escaping @Sendable (DLedgerWire.Frame) -> Void,
        connectionLost: @escaping @Sendable (NodeID) -> Void
    ) {
        self.identity = identity
        self.peers = peers
        self.selfPeer = selfPeer
        self.logger = logger
        self.deliver = deliver
        self.connectionLost = connectionLost
        var limits = RemotingLimits()
        limits.maxFrameLength = 64 * 1024 * 1024
        limits.writeBufferHighWaterMark = 32 * 1024 * 1024
        limits.writeBufferLowWaterMark = 16 * 1024 * 1024
        server = RemotingServer(
            host: selfPeer.host, port: selfPeer.port, limits: limits, handler: forwarder, logger: logger, threads: 1)
        // Peer connections leave from this member's own address (the one it listens on, so it is
        // local): a peer then sees who connects, and per-address firewall rules (the chaos
        // runner's partitions) cut exactly the links they name. They share the server's one
        // event loop: a frame that answers a received one (an ack, the next batch) is written
        // on the thread that read it, without waking another.
        client = RemotingClient(
            maxFrameLength: limits.maxFrameLength, logger: logger, connectTimeoutMillis: 1000,
            writeBufferWaterMark: .init(low: 16 * 1024 * 1024, high: 32 * 1024 * 1024),
            sourceAddress: Self.sourceAddress(host: selfPeer.host), eventLoopGroup: server.group)
    }

    /// A numeric, specific address to bind outgoing connections to; nil for a wildcard or a name.
    static func sourceAddress(host: String) -> SocketAddress? {
        guard host != "0.0.0.0", host != "::", let address = try? SocketAddress(ipAddress: host, port: 0) else {
            return nil
        }
        return address
    }

    /// The server needs its handler at init; this one forwards to the transport once it exists.
    final class Forwarder: RemotingRequestHandler {
        let target = Mutex<DLedgerTransport?>(nil)
        func handle(_ request: RemotingCommand, from connection: RemotingConnection) async -> RemotingCommand? {
            target.withLock { $0 }?.receive(request, from: connection)
            return nil
        }
        func connectionClosed(_ connection: RemotingConnection) {
            target.withLock { $0 }?.connectionClosed(connection)
        }
        func handlesOnEventLoop(_ request: RemotingCommand) -> Bool { true }
    }

    func start() async throws {
        forwarder.target.withLock { $0 = self }
        do {
            try await server.start()
        } catch {
            throw DLedgerServerError.cannotListen(address: selfPeer.address, reason: "\(error)")
        }
        logger.info("DLedger \(identity.group) member \(identity.selfId) listening on \(selfPeer.address)")
    }

    func shutdown() async {
        forwarder.target.withLock { $0 = nil }
        let connects = links.withLock { links in
            links.stopped = true
            return Array(links.connects.values)
        }
        for connect in connects { await connect.value }
        await client.shutdown()  // first: the server's shutdown ends the loop they share
        await server.shutdown()
    }

    // MARK: receiving

    func receive(_ request: RemotingCommand, from connection: RemotingConnection) {
        let frame: DLedgerWire.Frame
        do {
            frame = try DLedgerWire.decode(request, identity: identity, peers: peers)
        } catch {
            logger.error("DLedger frame from \(connection.remoteAddress) \(error); closing the connection")
            connection.close()
            return
        }
        links.withLock { $0.inbound[connection.id] = frame.envelope.from }
        deliver(frame)
    }

    func connectionClosed(_ connection: RemotingConnection) {
        guard let peer = links.withLock({ $0.inbound.removeValue(forKey: connection.id) }) else { return }
        logger.info("DLedger connection from n\(peer.value) (\(connection.remoteAddress)) closed")
        connectionLost(peer)
    }

    // MARK: sending

    func send(_ commands: [(NodeID, RemotingCommand)]) {
        for (peer, command) in commands {
            guard let target = peers.peers.first(where: { $0.number == peer.value }) else { continue }
            if let connection = client.establishedConnection(to: target.address), connection.channel.isActive {
                if connection.channel.isWritable {
                    connection.sendOneway(command)
                } else {
                    links.withLock { $0.dropped += 1 }
                }
                continue
            }
            links.withLock { links in
                links.waiting[target.number, default: []].append(command)
                if links.waiting[target.number]!.count > Self.maxWaitingFrames {
                    links.waiting[target.number]!.removeFirst()
                    links.dropped += 1
                }
            }
            connect(to: target)
        }
    }

    /// Keeps a connection to every peer open (called every tick), so a vote request never
    /// waits for a connect after a peer restarted.
    func maintainConnections() {
        for peer in peers.peers where peer.id != identity.selfId {
            if let connection = client.establishedConnection(to: peer.address), connection.channel.isActive { continue }
            connect(to: peer)
        }
    }

    private func connect(to target: DLedgerPeers.Peer) {
        let now = ContinuousClock.now
        links.withLock { links in
            guard !links.stopped, links.connects[target.number] == nil,
                links.lastAttempt[target.number].map({ now - $0 >= .milliseconds(Self.reconnectMillis) }) ?? true
            else { return }
            links.lastAttempt[target.number] = now
            // Made under the lock, so the task's own removal below always comes after this insert.
            links.connects[target.number] = Task { await self.establish(target) }
        }
    }

    private func establish(_ target: DLedgerPeers.Peer) async {
        do {
            let connection = try await client.connection(to: target.address)
            let (wasDown, waiting) = links.withLock { links in
                (links.down.remove(target.number) != nil, links.waiting.removeValue(forKey: target.number) ?? [])
            }
            for command in waiting { connection.sendOneway(command) }
            if wasDown { logger.info("DLedger peer \(target.id) at \(target.address) reachable again") }
        } catch {
            let first = links.withLock { links in
                links.waiting[target.number] = nil
                return links.down.insert(target.number).inserted
            }
            if first { logger.warning("DLedger peer \(target.id) at \(target.address) unreachable: \(error)") }
        }
        _ = links.withLock { $0.connects.removeValue(forKey: target.number) }
    }
}
