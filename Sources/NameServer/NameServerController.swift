import Common
import Logging
import Remoting
import ServiceLifecycle

/// The NameServer process: the remoting server plus the broker-expiry sweep.
public final class NameServerController: Service {
    public let config: NamesrvConfig
    public let processor: NameServerProcessor
    let server: RemotingServer
    let logger: Logger

    public init(config: NamesrvConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        processor = NameServerProcessor(config: config, logger: logger)
        server = RemotingServer(
            host: config.bindAddress, port: config.listenPort, limits: config.limits,
            handler: processor, logger: logger)
    }

    /// Starts listening; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        let port = try await server.start()
        logger.info("The Name Server boot success. serializeType=JSON, listening on \(config.bindAddress):\(port)")
        return port
    }

    public func shutdown() async {
        await server.shutdown()
        logger.info("NameServer stopped")
    }

    public func run() async throws {
        try await start()
        await withDiscardingTaskGroup { group in
            group.addTask { [processor, config] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(config.scanNotActiveBrokerInterval))
                    processor.scanNotActiveBrokers()
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await shutdown()
    }
}
