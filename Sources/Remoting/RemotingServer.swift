import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A remoting server: accepts connections and hands each request to `handler`.
public final class RemotingServer: Sendable {
    public let host: String
    public let requestedPort: Int
    public let limits: RemotingLimits
    /// Shared by all of this server's connections.
    public let partialFrameBudget: PartialFrameBudget
    let handler: any RemotingRequestHandler
    /// The connections' event loops (a client may share them: `RemotingClient(eventLoopGroup:)`).
    public let group: MultiThreadedEventLoopGroup
    let logger: Logger
    private let channelBox = NIOLockedValueBox<(any Channel)?>(nil)

    public init(
        host: String, port: Int, limits: RemotingLimits = RemotingLimits(),
        handler: any RemotingRequestHandler, logger: Logger, threads: Int = System.coreCount
    ) {
        self.host = host
        self.requestedPort = port
        self.limits = limits
        self.partialFrameBudget = PartialFrameBudget(limitBytes: limits.partialFrameBudgetBytes)
        self.handler = handler
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
    }

    /// Binds and starts accepting; returns the bound port (useful with port 0).
    @discardableResult
    public func start() async throws -> Int {
        let limits = limits
        let budget = partialFrameBudget
        let handler = handler
        let logger = logger
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(low: limits.writeBufferLowWaterMark, high: limits.writeBufferHighWaterMark)
            )
            .childChannelInitializer { channel in
                configureRemotingPipeline(
                    channel, maxFrameLength: limits.maxFrameLength, requestHandler: handler, logger: logger,
                    maxInflightRequests: limits.maxInflightRequestsPerConnection, partialFrameBudget: budget
                ).map { _ in }
            }
            .bind(host: host, port: requestedPort).get()
        channelBox.withLockedValue { $0 = channel }
        return channel.localAddress?.port ?? requestedPort
    }

    public var boundPort: Int? { channelBox.withLockedValue { $0?.localAddress?.port } }

    public func shutdown() async {
        let channel = channelBox.withLockedValue { $0 }
        try? await channel?.close()
        try? await group.shutdownGracefully()
    }
}
