import Common
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The master's side of master/slave HA (RocketMQ's `HAService`): listens on `haListenPort`,
/// and streams the CommitLog to each slave that connects, from the offset it reports, in
/// frames of at most `haTransferBatchSize` bytes. Slave acknowledgements feed
/// `SlaveAcknowledgements`, which SYNC_MASTER puts wait on.
public final class HAService: Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var transferBatchSize: Int
        public var heartbeatMillis: Int
        public var housekeepingMillis: Int

        init(_ config: BrokerConfig, port: Int) {
            host = config.bindAddress
            self.port = port
            transferBatchSize = config.haTransferBatchSize
            heartbeatMillis = config.haSendHeartbeatInterval
            housekeepingMillis = config.haHousekeepingInterval
        }

        var heartbeatInterval: Duration { .milliseconds(heartbeatMillis) }
    }

    let settings: Settings
    let store: MessageStore
    public let acknowledgements: SlaveAcknowledgements
    let logger: Logger
    let nextConnectionID = Atomic<Int>(0)
    let serverTask = Mutex<Task<Void, Never>?>(nil)

    init(settings: Settings, store: MessageStore, acknowledgements: SlaveAcknowledgements, logger: Logger) {
        self.settings = settings
        self.store = store
        self.acknowledgements = acknowledgements
        self.logger = logger
    }

    /// Binds the HA port and starts accepting slaves; returns the bound port.
    @discardableResult
    func start() async throws -> Int {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: settings.host, port: settings.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let port = server.channel.localAddress?.port ?? settings.port
        logger.info("HA service listening on \(settings.host):\(port) (haListenPort)")
        let task = Task {
            do {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            } catch is CancellationError {
            } catch {
                self.logger.error("HA service on port \(port) stopped: \(error)")
            }
        }
        serverTask.withLock { $0 = task }
        return port
    }

    func shutdown() async {
        guard let task = serverTask.withLock({ $0 }) else { return }
        task.cancel()
        await task.value
    }

    /// One slave: its reports come in on one task, the CommitLog goes out on another, and a
    /// third closes the connection when the slave falls silent (`haHousekeepingInterval`).
    func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let id = nextConnectionID.add(1, ordering: .relaxed).newValue
        let peer = connection.channel.remoteAddress.map { "\($0)" } ?? "unknown"
        let liveness = HALiveness(limitMillis: settings.housekeepingMillis)
        let (starts, startInput) = AsyncStream.makeStream(of: HAStart.self, bufferingPolicy: .bufferingNewest(1))
        logger.info("HA connection \(id) from slave \(peer)")
        defer { acknowledgements.disconnected(connection: id) }
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var reader = HAReportReader()
                        var started = false
                        for try await var bytes in inbound {
                            liveness.heard()
                            guard let offset = try reader.receive(&bytes) else { continue }
                            let masterEnd = self.store.commitLogMaxOffset
                            if !started {
                                // The first report says where to start; it also acknowledges
                                // what the slave holds, so a SYNC_MASTER counts it at once.
                                started = true
                                let start = self.startingPoint(slaveEnd: offset, masterEnd: masterEnd)
                                startInput.yield(start)
                                guard case .at = start else { continue }
                            } else if offset > masterEnd {
                                throw HAConnectionError.ackBeyondEnd(offset, masterEnd: masterEnd)
                            }
                            self.acknowledgements.acknowledged(connection: id, through: offset)
                        }
                        throw HAConnectionError.closedByPeer
                    }
                    group.addTask {
                        guard let start = await starts.first(where: { _ in true }) else { return }
                        try await self.stream(from: start, to: outbound, connection: id)
                    }
                    group.addTask { try await liveness.watch() }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch HAConnectionError.closedByPeer {
            logger.info("HA connection \(id): slave \(peer) closed it")
        } catch is CancellationError {
        } catch {
            logger.warning("HA connection \(id) from \(peer) closed: \(error)")
        }
    }

    enum HAStart: Sendable {
        case at(Int64)
        case refuse(String)
    }

    /// Where to stream from: where the slave's log ends, or, for an empty slave, where the
    /// master's log starts. A slave whose log is longer than the master's has bytes the master
    /// never had; one that ends before the master's oldest segment cannot be continued.
    func startingPoint(slaveEnd: Int64, masterEnd: Int64) -> HAStart {
        let masterStart = store.commitLogMinOffset
        if slaveEnd == 0 { return .at(masterStart) }
        if slaveEnd > masterEnd {
            return .refuse(
                "the slave's CommitLog ends at \(slaveEnd), past this master's end \(masterEnd): it has bytes this master never had (diverged)"
            )
        }
        if slaveEnd < masterStart {
            return .refuse(
                "the slave's CommitLog ends at \(slaveEnd), before this master's oldest data at \(masterStart): empty the slave's store to copy afresh"
            )
        }
        return .at(slaveEnd)
    }

    /// Streams CommitLog bytes from `start`: whatever is there, then each new write as it lands,
    /// and an empty frame when nothing was sent for `haSendHeartbeatInterval`.
    func stream(from start: HAStart, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, connection id: Int)
        async throws
    {
        var next: Int64
        switch start {
        case .refuse(let reason):
            logger.error("HA connection \(id): \(reason); telling the slave to stop")
            try await outbound.write(HAFrame.transfer(offset: HAFrame.divergedMarker, body: nil))
            throw HAConnectionError.refused
        case .at(let offset): next = offset
        }
        logger.info("HA connection \(id): streaming the CommitLog from \(next)")
        var lastSent = ContinuousClock.now
        while !Task.isCancelled {
            if let chunk = try store.replicaChunk(from: next, maxBytes: settings.transferBatchSize) {
                try await outbound.write(HAFrame.transfer(offset: next, body: chunk))
                next += Int64(chunk.readableBytes)
                lastSent = .now
                continue
            }
            _ = await store.writtenEnd.wait(for: next + 1, timeout: settings.heartbeatInterval)
            if ContinuousClock.now - lastSent >= settings.heartbeatInterval, store.commitLogMaxOffset <= next {
                try await outbound.write(HAFrame.transfer(offset: next, body: nil))
                lastSent = .now
            }
        }
    }
}

enum HAConnectionError: Error, CustomStringConvertible {
    case closedByPeer
    case ackBeyondEnd(Int64, masterEnd: Int64)
    case silent(millis: Int64)
    case refused

    var description: String {
        switch self {
        case .closedByPeer: "closed by the peer"
        case .ackBeyondEnd(let offset, let end):
            "the peer acknowledged offset \(offset), past the CommitLog's end \(end)"
        case .silent(let millis): "nothing heard for \(millis) ms (haHousekeepingInterval)"
        case .refused: "the slave's log cannot be continued"
        }
    }
}
