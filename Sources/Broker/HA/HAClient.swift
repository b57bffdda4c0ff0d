import Common
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The slave's side of master/slave HA (RocketMQ's `HAClient`): connects to the master's HA
/// address (`haMasterAddress`, or the one the NameServer names at registration), reports where
/// its CommitLog ends, stores what the master streams, and acknowledges after every frame and
/// every `haSendHeartbeatInterval`. Reconnects resume from the slave's own end.
final class HAClient: Sendable {
    let store: MessageStore
    let config: BrokerConfig
    let logger: Logger
    /// The master's HA address as the NameServer last named it.
    let learnedMasterAddress: @Sendable () -> String?
    /// The connected master's address, for runtime info.
    let connectedTo = Mutex<String?>(nil)

    init(
        store: MessageStore, config: BrokerConfig, logger: Logger,
        learnedMasterAddress: @escaping @Sendable () -> String?
    ) {
        self.store = store
        self.config = config
        self.logger = logger
        self.learnedMasterAddress = learnedMasterAddress
    }

    var masterAddress: String? { config.haMasterAddress ?? learnedMasterAddress() }

    /// Replicates until cancelled. Throws only when this slave must stop: its log is not a
    /// copy of the master's, or its segments cannot match the master's.
    func run() async throws {
        var lastProblem: String?
        while !Task.isCancelled {
            guard let address = masterAddress else {
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            do {
                try await replicate(from: address)
            } catch let error as ReplicaError {
                switch error {
                case .diverged, .crossesSegment, .notALocalCommitLog:
                    logger.critical("master/slave replication from \(address) stops: \(error)")
                    throw error
                case .offsetMismatch, .io:
                    lastProblem = report("\(error)", address: address, previous: lastProblem)
                }
            } catch is CancellationError {
                return
            } catch {
                lastProblem = report("\(error)", address: address, previous: lastProblem)
            }
            connectedTo.withLock { $0 = nil }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Logs a connection problem once per change, not once per retry.
    private func report(_ problem: String, address: String, previous: String?) -> String {
        if problem != previous { logger.warning("HA connection to master \(address): \(problem); reconnecting") }
        return problem
    }

    private func replicate(from address: String) async throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw ReplicaError.io("bad master HA address \(address)")
        }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(3))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: String(address[..<colon]), port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let liveness = HALiveness(limitMillis: config.haHousekeepingInterval)
        try await channel.executeThenClose { inbound, outbound in
            let start = store.commitLogMaxOffset
            try await outbound.write(HAFrame.report(start))
            connectedTo.withLock { $0 = address }
            logger.info("connected to master \(address) for HA, reporting CommitLog end \(start)")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var reader = HATransferReader(maxBodySize: max(self.config.haTransferBatchSize, 1 << 20) * 4)
                    for try await var bytes in inbound {
                        liveness.heard()
                        reader.receive(&bytes)
                        while let (header, body) = try reader.next() {
                            try await self.apply(header, body, outbound: outbound)
                        }
                    }
                    throw HAConnectionError.closedByPeer
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: .milliseconds(self.config.haSendHeartbeatInterval))
                        try await outbound.write(HAFrame.report(self.store.commitLogMaxOffset))
                    }
                }
                group.addTask { try await liveness.watch() }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    private func apply(
        _ header: HAFrame.Header, _ body: ByteBuffer, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async throws {
        if header.offset == HAFrame.divergedMarker {
            throw ReplicaError.diverged(
                at: store.commitLogMaxOffset,
                reason: "the master refused to continue it (see the master's log)")
        }
        guard body.readableBytes > 0 else {
            // A heartbeat names where the master continues: it must be where this log ends.
            let end = store.commitLogMaxOffset
            if end > 0, header.offset != end {
                throw ReplicaError.offsetMismatch(expected: end, received: header.offset)
            }
            return
        }
        let end = try store.appendReplica(body, at: header.offset)
        try await outbound.write(HAFrame.report(end))
    }
}
