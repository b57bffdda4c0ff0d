public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Typed access to a properties map: every key read is recorded so unknown keys can be reported.
public struct ConfigReader {
    public let values: [String: String]
    public private(set) var knownKeys: Set<String> = []

    public init(_ values: [String: String]) { self.values = values }

    public mutating func string(_ key: String, default value: String) -> String {
        knownKeys.insert(key)
        return values[key]?.trimmingCharacters() ?? value
    }

    /// `string`, with an empty value read as absent.
    public mutating func nonEmptyString(_ key: String, default value: String) -> String {
        let text = string(key, default: value)
        return text.isEmpty ? value : text
    }

    public mutating func int(_ key: String, default value: Int, range: ClosedRange<Int> = 0...Int.max)
        throws(ConfigError) -> Int
    {
        knownKeys.insert(key)
        guard let text = values[key]?.trimmingCharacters() else { return value }
        guard let parsed = Int(text), range.contains(parsed) else {
            throw ConfigError("\(key)=\(text) is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    public mutating func bool(_ key: String, default value: Bool) throws(ConfigError) -> Bool {
        knownKeys.insert(key)
        guard let text = values[key]?.trimmingCharacters() else { return value }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default: throw ConfigError("\(key)=\(text) is not true or false")
        }
    }

    public mutating func oneOf(_ key: String, default value: String, allowed: [String]) throws(ConfigError) -> String {
        let text = string(key, default: value)
        guard allowed.contains(text) else {
            throw ConfigError("\(key)=\(text) is not one of \(allowed.joined(separator: ", "))")
        }
        return text
    }

    public var unknownKeys: [String] { values.keys.filter { !knownKeys.contains($0) }.sorted() }
}

extension String {
    public func trimmingCharacters() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
