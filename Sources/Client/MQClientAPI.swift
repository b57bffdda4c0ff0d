import Common
import Logging
import NIOCore
import Remoting
import Synchronization

/// Typed requests to NameServers and brokers over one `RemotingClient` (`MQClientAPIImpl`).
public final class MQClientAPI: Sendable {
    public let namesrvAddrs: [String]
    let remoting: RemotingClient
    let logger: Logger
    let router = ClientRequestRouter()
    private let nextNamesrv = Atomic<Int>(0)

    /// `serializeType`: how this client's requests encode their headers.
    public init(namesrvAddr: String, logger: Logger, serializeType: SerializeType = .json) {
        namesrvAddrs = namesrvAddr.split(separator: ";").map { String($0).trimmingCharacters() }.filter {
            !$0.isEmpty
        }
        self.logger = logger
        remoting = RemotingClient(requestHandler: router, logger: logger, serializeType: serializeType)
    }

    /// Serves requests brokers send to this client (transaction checks, consumer-id changes,
    /// offset resets) with `handler`; it returns the response to send, if any.
    public func onRequest(
        _ code: Int32, _ handler: @escaping @Sendable (RemotingCommand, RemotingConnection) async -> RemotingCommand?
    ) {
        router.handlers.withLock { $0[code] = handler }
    }

    /// A request to the NameServers, trying each in turn until one answers.
    public func invokeNameServer(_ request: RemotingCommand, timeoutMillis: Int64 = 3000) async throws
        -> RemotingCommand
    {
        guard !namesrvAddrs.isEmpty else { throw ClientError.noNameServer }
        let start = nextNamesrv.add(1, ordering: .relaxed).newValue
        var lastError: any Error = ClientError.noNameServer
        for attempt in 0..<namesrvAddrs.count {
            let address = namesrvAddrs[(start + attempt) % namesrvAddrs.count]
            do {
                return try await remoting.invoke(address, request, timeoutMillis: timeoutMillis)
            } catch {
                lastError = error
                logger.debug("name server \(address) failed: \(error)")
            }
        }
        throw lastError
    }

    /// The topic's route, or nil when no NameServer knows it.
    public func topicRoute(_ topic: String) async throws -> TopicRouteData? {
        let response = try await invokeNameServer(
            .request(code: RequestCode.getRouteInfoByTopic, fields: ["topic": topic]))
        switch response.code {
        case ResponseCode.success:
            guard let route = TopicRouteData(json: try JSONValue.parse(response.bodyBytes)) else {
                throw ClientError.broker(code: response.code, remark: "unreadable route for \(topic)")
            }
            return route
        case ResponseCode.topicNotExist: return nil
        default: throw ClientError.broker(code: response.code, remark: response.remark ?? "")
        }
    }

    public func invoke(_ address: String, _ request: RemotingCommand, timeoutMillis: Int64 = 3000) async throws
        -> RemotingCommand
    {
        try await remoting.invoke(address, request, timeoutMillis: timeoutMillis)
    }

    public func invokeOneway(_ address: String, _ request: RemotingCommand) async throws {
        try await remoting.invokeOneway(address, request)
    }

    /// Asks `request` of the broker and requires SUCCESS.
    public func invokeExpectingSuccess(_ address: String, _ request: RemotingCommand, timeoutMillis: Int64 = 3000)
        async throws -> RemotingCommand
    {
        let response = try await invoke(address, request, timeoutMillis: timeoutMillis)
        guard response.code == ResponseCode.success else {
            throw ClientError.broker(code: response.code, remark: response.remark ?? "")
        }
        return response
    }

    public func closeConnection(to address: String) { remoting.closeConnection(to: address) }

    /// The open connection to `address`, if any (no connecting).
    public func establishedConnection(to address: String) -> RemotingConnection? {
        remoting.establishedConnection(to: address)
    }

    public func shutdown() async { await remoting.shutdown() }
}

/// Dispatches broker-to-client requests by code; unknown codes get REQUEST_CODE_NOT_SUPPORTED.
final class ClientRequestRouter: RemotingRequestHandler {
    typealias Handler = @Sendable (RemotingCommand, RemotingConnection) async -> RemotingCommand?
    let handlers = Mutex<[Int32: Handler]>([:])

    func handle(_ request: RemotingCommand, from connection: RemotingConnection) async -> RemotingCommand? {
        guard let handler = handlers.withLock({ $0[request.code] }) else {
            return request.response(
                code: ResponseCode.requestCodeNotSupported,
                remark: "request code \(request.code) is not supported by this client")
        }
        return await handler(request, connection)
    }

    func connectionClosed(_ connection: RemotingConnection) {}
}
