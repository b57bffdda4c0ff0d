import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A remoting server: accepts connections and hands each request to `handler`.
public final class RemotingServer: Sendable {
    public let host: String
    public let requestedPort: Int
    let maxFrameLength: Int
    let handler: any RemotingRequestHandler
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    private let channelBox = NIOLockedValueBox<(any Channel)?>(nil)

    public init(
        host: String, port: Int, maxFrameLength: Int = RemotingCommand.defaultMaxFrameLength,
        handler: any RemotingRequestHandler, logger: Logger, threads: Int = System.coreCount
    ) {
        self.host = host
        self.requestedPort = port
        self.maxFrameLength = maxFrameLength
        self.handler = handler
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
    }

    /// Binds and starts accepting; returns the bound port (useful with port 0).
    @discardableResult
    public func start() async throws -> Int {
        let maxFrameLength = maxFrameLength
        let handler = handler
        let logger = logger
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelInitializer { channel in
                configureRemotingPipeline(
                    channel, maxFrameLength: maxFrameLength, requestHandler: handler, logger: logger
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
