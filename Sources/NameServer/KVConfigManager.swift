import Common
import Remoting

/// Namespaced key/value settings (`KVConfigManager`), persisted as `{"configTable":{ns:{k:v}}}`.
public struct KVConfigManager: Sendable {
    public private(set) var table: [String: [String: String]] = [:]

    public init() {}

    public init(json: JSONValue) {
        for (namespace, values) in json["configTable"]?.object ?? [:] {
            table[namespace] = (values.object ?? [:]).compactMapValues(\.text)
        }
    }

    public var json: JSONValue {
        .object(["configTable": .object(table.mapValues { .object($0.mapValues { .string($0) }) })])
    }

    public func value(namespace: String, key: String) -> String? { table[namespace]?[key] }

    public mutating func put(namespace: String, key: String, value: String) {
        table[namespace, default: [:]][key] = value
    }

    public mutating func delete(namespace: String, key: String) {
        table[namespace]?[key] = nil
        if table[namespace]?.isEmpty == true { table[namespace] = nil }
    }
}
