import Common
import Logging
import Remoting

/// A JSON state file under `storePathRootDir/config` (topics.json, consumerOffset.json, …),
/// written atomically.
struct ConfigFile: Sendable {
    let path: String
    let logger: Logger

    /// The parsed file, nil if absent. A corrupt file is an error: silently starting empty would
    /// lose topics or offsets.
    func load() throws -> JSONValue? {
        guard let text = try AtomicFile.read(path) else { return nil }
        do {
            return try JSONValue.parse(text)
        } catch {
            throw ConfigError("\(path) is not valid JSON: \(error)")
        }
    }

    func save(_ value: JSONValue) {
        do {
            try AtomicFile.write(value.serialized(), to: path)
        } catch {
            logger.error("persisting \(path) failed: \(error)")
        }
    }
}
