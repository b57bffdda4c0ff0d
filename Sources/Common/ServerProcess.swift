import Logging
import ServiceLifecycle

/// What `mqnamesrv` and `mqbroker` share: reading `-c`, logging, and running until SIGTERM/SIGINT.
public enum ServerProcess {
    /// The properties of `-c file`, or none.
    public static func properties(from configFile: String?) throws -> [String: String] {
        guard let configFile else { return [:] }
        guard let text = try AtomicFile.read(configFile) else {
            throw ConfigError("config file \(configFile) does not exist")
        }
        return PropertiesFile.parse(text)
    }

    /// Logs to standard output at `ROCKETMQ_LOG_LEVEL` (default info).
    public static func makeLogger(label: String) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevelFromEnvironment()) ?? .info
            return handler
        }
        return Logger(label: label)
    }

    /// Runs the service; SIGTERM and SIGINT stop it gracefully.
    public static func run(_ service: some Service, unknownKeys: [String], logger: Logger) async throws {
        for key in unknownKeys { logger.warning("unknown config key \(key) ignored") }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
