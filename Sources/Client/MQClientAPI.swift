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
    private let nextNamesrv = Atomic<Int>(0)

    public init(namesrvAddr: String, logger: Logger, requestHandler: (any RemotingRequestHandler)? = nil) {
        namesrvAddrs = namesrvAddr.split(separator: ";").map { String($0).trimmingCharacters() }.filter {
            !$0.isEmpty
        }
        self.logger = logger
        remoting = RemotingClient(requestHandler: requestHandler, logger: logger)
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

    public func shutdown() async { await remoting.shutdown() }
}
