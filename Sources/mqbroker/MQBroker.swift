import ArgumentParser
import Broker
import Common

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
        let config = try BrokerConfig(
            properties: try ServerProcess.properties(from: configFile), namesrvOverride: namesrvAddr,
            environmentNamesrv: getenv("NAMESRV_ADDR").map { String(cString: $0) })
        if printConfig {
            print(PropertiesFile.render(config.effectiveProperties), terminator: "")
            return
        }
        let logger = ServerProcess.makeLogger(label: "mqbroker")
        let controller = try BrokerController(config: config, logger: logger)
        try await ServerProcess.run(controller, unknownKeys: config.unknownKeys, logger: logger)
    }
}
