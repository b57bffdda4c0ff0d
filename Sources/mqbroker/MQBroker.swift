import ArgumentParser
import Broker
import Common
import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

@main
struct MQBroker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqbroker", abstract: "RocketMQ-compatible broker.")

    @Option(name: .customShort("c"), help: "Broker config properties file.")
    var configFile: String?

    @Option(name: .customShort("n"), help: "Name server address list, e.g. '192.168.0.1:9876;192.168.0.2:9876'.")
    var namesrvAddr: String?

    @Flag(name: .customShort("p"), help: "Print all config items and exit.")
    var printConfig = false

    mutating func run() async throws {
        var properties: [String: String] = [:]
        if let configFile {
            guard let text = try AtomicFile.read(configFile) else {
                throw ValidationError("config file \(configFile) does not exist")
            }
            properties = PropertiesFile.parse(text)
        }
        let environmentNamesrv = getenv("NAMESRV_ADDR").map { String(cString: $0) }
        let config: BrokerConfig
        do {
            config = try BrokerConfig(
                properties: properties, namesrvOverride: namesrvAddr, environmentNamesrv: environmentNamesrv)
        } catch {
            throw ValidationError("invalid config: \(error)")
        }
        if printConfig {
            print(PropertiesFile.render(config.effectiveProperties), terminator: "")
            return
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevelFromEnvironment()) ?? .info
            return handler
        }
        let logger = Logger(label: "mqbroker")
        for key in config.unknownKeys { logger.warning("unknown config key \(key) ignored") }
        let controller = try BrokerController(config: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: controller)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
