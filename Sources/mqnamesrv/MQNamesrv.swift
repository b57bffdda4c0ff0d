import ArgumentParser
import Common
import Logging
import NameServer
import ServiceLifecycle

@main
struct MQNamesrv: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqnamesrv", abstract: "RocketMQ-compatible NameServer.")

    @Option(name: .customShort("c"), help: "Name server config properties file.")
    var configFile: String?

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
        let config: NamesrvConfig
        do {
            config = try NamesrvConfig(properties: properties)
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
        let logger = Logger(label: "mqnamesrv")
        for key in config.unknownKeys { logger.warning("unknown config key \(key) ignored") }
        let controller = NameServerController(config: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: controller)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
