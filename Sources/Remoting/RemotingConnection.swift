import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

public enum RemotingError: Error, Sendable, CustomStringConvertible {
    case connectFailed(address: String, reason: String)
    case timeout(address: String, millis: Int64)
    case connectionClosed(address: String)
    case badAddress(String)

    public var description: String {
        switch self {
        case .connectFailed(let address, let reason): "connect to \(address) failed: \(reason)"
        case .timeout(let address, let millis): "wait response from \(address) timed out after \(millis) ms"
        case .connectionClosed(let address): "connection to \(address) closed"
        case .badAddress(let address): "bad address \(address), expected ip:port"
        }
    }
}

/// Serves requests that arrive on a connection (the peer's requests, not responses).
public protocol RemotingRequestHandler: Sendable {
    /// The response to send, or nil for none. Requests with the one-way bit get no response even
    /// if one is returned; every other request should get one (the C++ client never sets the bit).
    func handle(_ request: RemotingCommand, from connection: RemotingConnection) async -> RemotingCommand?
    func connectionClosed(_ connection: RemotingConnection)
    /// Whether `request` is handled on the event loop that read it (see `EventLoopTaskExecutor`)
    /// rather than on the cooperative pool. Default: no.
    func handlesOnEventLoop(_ request: RemotingCommand) -> Bool
}

extension RemotingRequestHandler {
    public func handlesOnEventLoop(_ request: RemotingCommand) -> Bool { false }
}

/// One TCP connection, client or server side: send commands, send requests and await responses.
public struct RemotingConnection: Sendable, Hashable, CustomStringConvertible {
    public let id: UInt64
    public let channel: any Channel
    /// `ip:port` of the peer.
    public let remoteAddress: String
    /// The peer as stored in BORNHOST (parsed once per connection, not per message).
    public let remoteHost: HostAddress
    let inflight: InflightRequests
    /// How this side's requests encode their headers (a client's choice; responses always
    /// answer in their request's type).
    public internal(set) var requestSerializeType = SerializeType.json

    public var description: String { "\(remoteAddress)#\(id)" }

    init(id: UInt64, channel: any Channel, remoteAddress: String, inflight: InflightRequests) {
        self.id = id
        self.channel = channel
        self.remoteAddress = remoteAddress
        self.remoteHost = HostAddress(remoteAddress)
        self.inflight = inflight
    }

    public static func == (lhs: RemotingConnection, rhs: RemotingConnection) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    /// Sends a command without waiting (responses, one-way requests).
    public func send(_ command: RemotingCommand) {
        channel.writeAndFlush(command, promise: nil)
    }

    /// Sends a one-way request (flag bit 1 set, no response expected).
    public func sendOneway(_ request: RemotingCommand) {
        var request = request
        request.opaque = OpaqueGenerator.next()
        request.flag |= RemotingCommand.onewayFlag
        request.serializeType = requestSerializeType
        send(request)
    }

    /// Sends a request and waits for the response with the same opaque.
    public func invoke(_ request: RemotingCommand, timeoutMillis: Int64) async throws -> RemotingCommand {
        let (response, timeout) = start(request, timeoutMillis: timeoutMillis)
        defer { timeout?.cancel() }
        return try await response.get()
    }

    /// Sends a request; `completion` runs on the connection's event loop with the response or
    /// the failure (timeout, closed connection). No task is created: for hot paths.
    public func invoke(
        _ request: RemotingCommand, timeoutMillis: Int64,
        completion: @escaping @Sendable (Result<RemotingCommand, any Error>) -> Void
    ) {
        let (response, timeout) = start(request, timeoutMillis: timeoutMillis)
        response.whenComplete { result in
            timeout?.cancel()
            completion(result)
        }
    }

    private func start(_ request: RemotingCommand, timeoutMillis: Int64) -> (
        EventLoopFuture<RemotingCommand>, Task<Void, any Error>?
    ) {
        var request = request
        request.opaque = OpaqueGenerator.next()
        request.serializeType = requestSerializeType
        let promise = channel.eventLoop.makePromise(of: RemotingCommand.self)
        let opaque = request.opaque
        let address = remoteAddress
        let inflight = self.inflight
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutMillis)) * 1_000_000
        inflight.add(
            opaque: opaque,
            .init(promise: promise, deadlineNanos: deadline, address: address, timeoutMillis: timeoutMillis))
        // A client's connections are swept for timeouts by its RemotingClient; others get a task.
        // (Not an event-loop scheduled task: cancelling one after its loop shut down leaves its
        // promise unfulfilled.)
        let timeout =
            inflight.swept.load(ordering: .relaxed)
            ? nil
            : Task {
                try await Task.sleep(for: .milliseconds(timeoutMillis))
                inflight.fail(opaque: opaque, with: RemotingError.timeout(address: address, millis: timeoutMillis))
            }
        // No write promise (a future and a callback per request): a write fails only on a closed
        // channel, whose close fails every request it had, and a request added after the close is
        // caught here.
        channel.writeAndFlush(request, promise: nil)
        if !channel.isActive {
            inflight.fail(opaque: opaque, with: RemotingError.connectionClosed(address: address))
        }
        return (promise.futureResult, timeout)
    }

    public func close() {
        channel.close(promise: nil)
    }
}

/// Request opaques: increasing, wrapping from Int32.max back to 0, never negative.
final class OpaqueSequence: Sendable {
    private let counter: Synchronization.Atomic<Int32>
    init(after start: Int32 = 0) { counter = Synchronization.Atomic(start) }
    func next() -> Int32 { counter.wrappingAdd(1, ordering: .relaxed).newValue & Int32.max }
}

enum OpaqueGenerator {
    private static let shared = OpaqueSequence()
    static func next() -> Int32 { shared.next() }
}

enum ConnectionIDs {
    private static let counter = Atomic<UInt64>(0)
    static func next() -> UInt64 { counter.add(1, ordering: .relaxed).newValue }
}

/// Requests this side sent and is waiting on, by opaque.
final class InflightRequests: Sendable {
    struct Pending {
        var promise: EventLoopPromise<RemotingCommand>
        var deadlineNanos: UInt64
        var address: String
        var timeoutMillis: Int64
    }
    private let pending = Mutex<[Int32: Pending]>([:])
    /// A RemotingClient sweeps this table for timeouts (`expire`).
    let swept = Atomic<Bool>(false)

    func add(opaque: Int32, _ request: Pending) {
        pending.withLock { $0[opaque] = request }
    }

    func complete(_ response: RemotingCommand) -> Bool {
        guard let request = pending.withLock({ $0.removeValue(forKey: response.opaque) }) else { return false }
        request.promise.succeed(response)
        return true
    }

    func fail(opaque: Int32, with error: any Error) {
        pending.withLock { $0.removeValue(forKey: opaque) }?.promise.fail(error)
    }

    func failAll(with error: any Error) {
        let all = pending.withLock { table in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for request in all { request.promise.fail(error) }
    }

    /// Fails the requests whose deadline has passed.
    func expire(nowNanos: UInt64) {
        let expired = pending.withLock { table -> [Pending] in
            let late = table.filter { $0.value.deadlineNanos <= nowNanos }
            for opaque in late.keys { table[opaque] = nil }
            return Array(late.values)
        }
        for request in expired {
            request.promise.fail(RemotingError.timeout(address: request.address, millis: request.timeoutMillis))
        }
    }
}

/// Routes decoded frames: responses complete waiting requests, requests go to the handler on a
/// task (so a held long-poll never blocks the connection), and the handler's answer is written back.
///
/// Backpressure: the connection is not read while `maxInflightRequests` of its requests are
/// being handled, or while its outbound buffer is above the high-water mark (the peer does not
/// read its responses). Reads resume when both clear.
final class RemotingChannelHandler: ChannelDuplexHandler, Sendable {
    typealias InboundIn = RemotingCommand
    typealias OutboundIn = Never

    /// Touched on the channel's event loop only (the box satisfies `Sendable`).
    struct ReadGate {
        var inflightRequests = 0
        var writable = true
        var readPending = false
        func isOpen(limit: Int) -> Bool { writable && inflightRequests < limit }
    }

    let requestHandler: (any RemotingRequestHandler)?
    let logger: Logger
    let maxInflightRequests: Int
    let inflight = InflightRequests()
    let connectionBox = NIOLockedValueBox<RemotingConnection?>(nil)
    let executorBox = NIOLockedValueBox<EventLoopTaskExecutor?>(nil)
    let gate = NIOLockedValueBox(ReadGate())

    init(requestHandler: (any RemotingRequestHandler)?, logger: Logger, maxInflightRequests: Int = .max) {
        self.requestHandler = requestHandler
        self.logger = logger
        self.maxInflightRequests = max(1, maxInflightRequests)
    }

    // MARK: backpressure

    func read(context: ChannelHandlerContext) {
        let open = gate.withLockedValue { gate in
            let open = gate.isOpen(limit: maxInflightRequests)
            gate.readPending = !open
            return open
        }
        if open { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        if !writable {
            logger.debug("connection \(Self.describe(context.channel.remoteAddress)) not reading its responses: paused")
        }
        resumeIfOpen(context.channel) { $0.writable = writable }
        context.fireChannelWritabilityChanged()
    }

    /// Applies `change` to the gate; issues the read the gate held back once it is open again.
    private func resumeIfOpen(_ channel: any Channel, _ change: (inout ReadGate) -> Void) {
        let resume = gate.withLockedValue { gate in
            change(&gate)
            guard gate.readPending, gate.isOpen(limit: maxInflightRequests) else { return false }
            gate.readPending = false
            return true
        }
        if resume { channel.read() }
    }

    func connection(for channel: any Channel) -> RemotingConnection {
        connectionBox.withLockedValue { box in
            if let existing = box { return existing }
            let created = RemotingConnection(
                id: ConnectionIDs.next(), channel: channel,
                remoteAddress: Self.describe(channel.remoteAddress), inflight: inflight)
            box = created
            return created
        }
    }

    static func describe(_ address: SocketAddress?) -> String {
        guard let address, let ip = address.ipAddress, let port = address.port else { return "unknown:0" }
        return "\(ip):\(port)"
    }

    func channelActive(context: ChannelHandlerContext) {
        _ = connection(for: context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let command = unwrapInboundIn(data)
        if command.isResponse {
            if !inflight.complete(command) {
                logger.debug("response with unknown opaque \(command.opaque) (code \(command.code)) dropped")
            }
            return
        }
        let connection = connection(for: context.channel)
        guard let requestHandler else {
            connection.send(command.response(code: ResponseCode.requestCodeNotSupported, remark: "no handler"))
            return
        }
        gate.withLockedValue { $0.inflightRequests += 1 }
        let channel = context.channel
        let work: @Sendable () async -> Void = {
            let response = await requestHandler.handle(command, from: connection)
            if let response, !command.isOneway {
                connection.send(response)
            }
            // Requests handled on their event loop (sends, pulls) finish there: no extra hop.
            if channel.eventLoop.inEventLoop {
                self.resumeIfOpen(channel) { $0.inflightRequests -= 1 }
            } else {
                channel.eventLoop.execute { self.resumeIfOpen(channel) { $0.inflightRequests -= 1 } }
            }
        }
        if requestHandler.handlesOnEventLoop(command) {
            Task(executorPreference: loopExecutor(context.eventLoop), operation: work)
        } else {
            Task(operation: work)
        }
    }

    /// This channel's event loop as a task executor (made once).
    private func loopExecutor(_ eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        executorBox.withLockedValue { box in
            if let existing = box { return existing }
            let created = EventLoopTaskExecutor(eventLoop)
            box = created
            return created
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let connection = connection(for: context.channel)
        inflight.failAll(with: RemotingError.connectionClosed(address: connection.remoteAddress))
        requestHandler?.connectionClosed(connection)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let peer = Self.describe(context.channel.remoteAddress)
        if let decodeError = error as? RemotingDecodeError {
            logger.warning("closing connection from \(peer): \(decodeError)")
        } else if error is IOError || error is ChannelError {
            logger.debug("connection \(peer) error: \(error)")
        } else {
            logger.warning("closing connection from \(peer): \(error)")
        }
        context.close(promise: nil)
    }
}

/// The handlers every remoting channel has, server or client side.
func configureRemotingPipeline(
    _ channel: any Channel, maxFrameLength: Int, requestHandler: (any RemotingRequestHandler)?, logger: Logger,
    maxInflightRequests: Int = .max, partialFrameBudget: PartialFrameBudget? = nil
) -> EventLoopFuture<RemotingChannelHandler> {
    let handler = RemotingChannelHandler(
        requestHandler: requestHandler, logger: logger, maxInflightRequests: maxInflightRequests)
    return channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandlers([
            FlushCoalescingHandler(),
            ByteToMessageHandler(RemotingFrameDecoder(maxFrameLength: maxFrameLength, budget: partialFrameBudget)),
            MessageToByteHandler(RemotingCommandEncoder()),
            handler,
        ])
        return handler
    }
}
