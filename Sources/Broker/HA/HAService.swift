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
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            server = try await bind()
        } catch {
            throw ConfigError("cannot listen on haListenPort \(settings.host):\(settings.port): \(error)")
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

    private func bind() async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: settings.host, port: settings.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    func shutdown() async {
        guard let task = serverTask.withLock({ $0 }) else { return }
        task.cancel()
        await task.value
    }
}
