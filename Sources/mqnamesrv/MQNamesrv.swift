import ArgumentParser
import Common
import NameServer

@main
struct MQNamesrv: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqnamesrv", abstract: "RocketMQ-compatible NameServer.")

    @Option(name: .customShort("c"), help: "Name server config properties file.")
    var configFile: String?

    @Flag(name: .customShort("p"), help: "Print all config items and exit.")
    var printConfig = false

    mutating func run() async throws {
        let config = try NamesrvConfig(properties: try ServerProcess.properties(from: configFile))
        if printConfig {
            print(PropertiesFile.render(config.effectiveProperties), terminator: "")
            return
        }
        let logger = ServerProcess.makeLogger(label: "mqnamesrv")
        let controller = NameServerController(config: config, logger: logger)
        try await ServerProcess.run(controller, unknownKeys: config.unknownKeys, logger: logger)
    }
}
