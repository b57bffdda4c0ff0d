import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Long-lived connections to remote `ip:port` addresses, one per address, multiplexed by opaque.
/// Requests the remote side sends us (e.g. a broker's NOTIFY_CONSUMER_IDS_CHANGED) go to
/// `requestHandler`.
public final class RemotingClient: Sendable {
    let group: MultiThreadedEventLoopGroup
    /// Whether `shutdown` ends the group (false when it was lent, e.g. by a server).
    let ownsGroup: Bool
    let maxFrameLength: Int
    let requestHandler: (any RemotingRequestHandler)?
    let logger: Logger
    let connectTimeoutMillis: Int64
    /// When a connection stops taking writes (`isWritable`); NIO's default unless set.
    let writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark?
    /// The local address outgoing connections bind to (nil: the kernel picks one).
    let sourceAddress: SocketAddress?
    /// How requests encode their headers: JSON (RocketMQ's default) or ROCKETMQ's binary form.
    public let serializeType: SerializeType
    /// One connection per address: the connect under way, and the connection once it is open
    /// (for lookups that need no waiting).
    struct Entry {
        var future: EventLoopFuture<RemotingConnection>
        var open: RemotingConnection?
    }
    private let connections = NIOLockedValueBox<[String: Entry]>([:])
    /// Request tables of this client's connections, swept for timeouts every 20 ms (one timer for
    /// all requests instead of one per request).
    private let swept = NIOLockedValueBox<[ObjectIdentifier: InflightRequests]>([:])
    private let sweeper = NIOLockedValueBox<Task<Void, Never>?>(nil)

    public init(
        maxFrameLength: Int = RemotingCommand.defaultMaxFrameLength,
        requestHandler: (any RemotingRequestHandler)? = nil,
        logger: Logger, connectTimeoutMillis: Int64 = 3000, threads: Int = 1,
        writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark? = nil, sourceAddress: SocketAddress? = nil,
        serializeType: SerializeType = .json, eventLoopGroup: MultiThreadedEventLoopGroup? = nil
    ) {
        self.serializeType = serializeType
        // A lent group (`eventLoopGroup`, e.g. a server's) lets this side's writes leave from
        // the loop that read the frame they answer, with no hop to another thread.
        self.group = eventLoopGroup ?? MultiThreadedEventLoopGroup(numberOfThreads: threads)
        self.ownsGroup = eventLoopGroup == nil
        self.sourceAddress = sourceAddress
        self.writeBufferWaterMark = writeBufferWaterMark
        self.maxFrameLength = maxFrameLength
        self.requestHandler = requestHandler
        self.logger = logger
        self.connectTimeoutMillis = connectTimeoutMillis
    }

    public func invoke(_ address: String, _ request: RemotingCommand, timeoutMillis: Int64) async throws
        -> RemotingCommand
    {
        let connection = try await connection(to: address)
        return try await connection.invoke(request, timeoutMillis: timeoutMillis)
    }

    public func invokeOneway(_ address: String, _ request: RemotingCommand) async throws {
        try await connection(to: address).sendOneway(request)
    }

    /// The open connection to `address`, if there is one (no connecting, no waiting).
    public func establishedConnection(to address: String) -> RemotingConnection? {
        guard let connection = connections.withLockedValue({ $0[address]?.open }), connection.channel.isActive else {
            return nil
        }
        return connection
    }

    public func connection(to address: String) async throws -> RemotingConnection {
        if let connection = establishedConnection(to: address) { return connection }
        startSweeper()
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw RemotingError.badAddress(address)
        }
        let host = String(address[..<colon])
        // A cached connection the peer has closed is replaced once by a fresh one.
        for _ in 0..<2 {
            let future = connections.withLockedValue { table -> EventLoopFuture<RemotingConnection> in
                if let existing = table[address] { return existing.future }
                let created = makeConnection(host: host, port: port)
                table[address] = Entry(future: created)
                return created
            }
            do {
                let connection = try await future.get()
                if connection.channel.isActive {
                    connections.withLockedValue { table in
                        if table[address]?.future === future { table[address]?.open = connection }
                    }
                    return connection
                }
                forget(address, future: future)
            } catch {
                forget(address, future: future)
                throw RemotingError.connectFailed(address: address, reason: "\(error)")
            }
        }
        throw RemotingError.connectionClosed(address: address)
    }

    private func forget(_ address: String, future: EventLoopFuture<RemotingConnection>) {
        connections.withLockedValue { table in
            if table[address]?.future === future { table[address] = nil }
        }
    }

    private func makeConnection(host: String, port: Int) -> EventLoopFuture<RemotingConnection> {
        let maxFrameLength = maxFrameLength
        let requestHandler = requestHandler
        let logger = logger
        let waterMark = writeBufferWaterMark ?? .init(low: 32 * 1024, high: 64 * 1024)
        let handlerBox = NIOLockedValueBox<RemotingChannelHandler?>(nil)
        let bootstrap =
            sourceAddress.map { ClientBootstrap(group: group).bind(to: $0) } ?? ClientBootstrap(group: group)
        return bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: waterMark)
            .connectTimeout(.milliseconds(connectTimeoutMillis))
            .channelInitializer { channel in
                configureRemotingPipeline(
                    channel, maxFrameLength: maxFrameLength, requestHandler: requestHandler, logger: logger
                ).map { handler in handlerBox.withLockedValue { $0 = handler } }
            }
            .connect(host: host, port: port)
            .map { [swept, serializeType] channel in
                var opened = handlerBox.withLockedValue { $0! }.connection(for: channel)
                opened.requestSerializeType = serializeType
                let connection = opened
                let inflight = connection.inflight
                inflight.swept.store(true, ordering: .relaxed)
                swept.withLockedValue { $0[ObjectIdentifier(inflight)] = inflight }
                channel.closeFuture.whenComplete { _ in
                    swept.withLockedValue { $0[ObjectIdentifier(inflight)] = nil }
                    inflight.failAll(with: RemotingError.connectionClosed(address: connection.remoteAddress))
                }
                return connection
            }
    }

    private func startSweeper() {
        sweeper.withLockedValue { task in
            guard task == nil else { return }
            let swept = self.swept
            task = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(20))
                    let now = DispatchTime.now().uptimeNanoseconds
                    for inflight in swept.withLockedValue({ Array($0.values) }) { inflight.expire(nowNanos: now) }
                }
            }
        }
    }

    /// Closes the connection to `address` (the next invoke reconnects).
    public func closeConnection(to address: String) {
        let future = connections.withLockedValue { $0.removeValue(forKey: address)?.future }
        future?.whenSuccess { $0.close() }
    }

    public func shutdown() async {
        let all = connections.withLockedValue { table in
            defer { table.removeAll() }
            return table.values.map(\.future)
        }
        for future in all { future.whenSuccess { $0.close() } }
        sweeper.withLockedValue { $0 }?.cancel()
        for inflight in swept.withLockedValue({ Array($0.values) }) {
            inflight.failAll(with: RemotingError.connectionClosed(address: "(client shut down)"))
        }
        if ownsGroup { try? await group.shutdownGracefully() }
    }
}
