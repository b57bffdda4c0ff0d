import Common

/// The properties string: `name \x01 value \x02 name \x01 value \x02 …`.
public enum MessageProperties {
    static let nameValueSeparator: UInt8 = 1
    static let propertySeparator: UInt8 = 2

    /// Accepts a trailing `\x02` (C++, old Java) or none (Java 4.9); skips empty segments and
    /// segments without a `\x01`.
    public static func decode(_ text: String) -> [String: String] {
        var text = text
        return text.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }

    public static func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [String: String] {
        bytes.withContiguousStorageIfAvailable { decode(UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { decode($0) }
    }

    /// One pass over the bytes: no array of segments, one string per name and value.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> [String: String] {
        var result: [String: String] = [:]
        // One allocation instead of regrowing: at most one property per separator, plus one.
        var separators = 0
        for byte in bytes where byte == propertySeparator { separators += 1 }
        result.reserveCapacity(separators + 1)
        var start = 0
        while start < bytes.count {
            var end = start
            var separator: Int?
            while end < bytes.count, bytes[end] != propertySeparator {
                if separator == nil, bytes[end] == nameValueSeparator { separator = end }
                end += 1
            }
            if let separator, separator > start {
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<separator]), as: UTF8.self)
                result[name] = String(
                    decoding: UnsafeRawBufferPointer(rebasing: bytes[(separator + 1)..<end]), as: UTF8.self)
            }
            start = end + 1
        }
        return result
    }

    /// No trailing separator (Java 4.9's form); in the dictionary's order, as Java writes its
    /// HashMap's.
    public static func encode(_ properties: [String: String]) -> String {
        let length = properties.reduce(max(0, properties.count * 2 - 1)) {
            $0 + $1.key.utf8.count + $1.value.utf8.count
        }
        return String(unsafeUninitializedCapacity: length) { out in
            var position = 0
            func write(_ text: String) {
                for byte in text.utf8 {
                    out[position] = byte
                    position += 1
                }
            }
            for (name, value) in properties {
                if position > 0 {
                    out[position] = propertySeparator
                    position += 1
                }
                write(name)
                out[position] = nameValueSeparator
                position += 1
                write(value)
            }
            return position
        }
    }
}

/// Tag hash codes as stored in the ConsumeQueue: Java's `String.hashCode()` of the tag.
public enum TagHash {
    public static func code(_ tag: String?) -> Int64 {
        guard let tag, !tag.isEmpty else { return 0 }
        return Int64(javaHash(tag))
    }

    /// Java's `String.hashCode()`, continued from `hash`: `javaHash(b, continuing: javaHash(a))`
    /// is the hash of `a + b`, without building it.
    public static func javaHash<Text: StringProtocol>(_ text: Text, continuing hash: Int32 = 0) -> Int32 {
        // ASCII, the common case: its UTF-16 units are its UTF-8 bytes, read without transcoding.
        let ascii = text.utf8.withContiguousStorageIfAvailable { bytes -> Int32? in
            var hash = hash
            for byte in bytes {
                guard byte < 0x80 else { return nil }
                hash = hash &* 31 &+ Int32(byte)
            }
            return hash
        }
        if let ascii, let ascii { return ascii }
        var hash = hash
        for unit in text.utf16 { hash = hash &* 31 &+ Int32(unit) }
        return hash
    }
}

/// A parsed subscription expression: `*` (everything) or `TagA || TagB`.
public struct SubscriptionExpression: Sendable, Equatable {
    public static let all = "*"
    public var expression: String
    public var tags: Set<String>
    public var codes: Set<Int64>

    public var matchesAll: Bool { tags.isEmpty }

    public init(_ expression: String) {
        self.expression = expression
        let trimmed = expression.trimmingCharacters()
        if trimmed.isEmpty || trimmed == Self.all {
            tags = []
        } else {
            tags = Set(
                trimmed.split(separator: "||", omittingEmptySubsequences: true)
                    .map { String($0).trimmingCharacters() }.filter { !$0.isEmpty })
        }
        codes = Set(tags.map { TagHash.code($0) })
    }

    /// The broker's filter: on the ConsumeQueue's tag hash.
    public func matches(tagsCode: Int64) -> Bool { matchesAll || codes.contains(tagsCode) }

    /// The exact check after reading the message (hash collisions).
    public func matches(tag: String?) -> Bool { matchesAll || (tag.map { tags.contains($0) } ?? false) }
}
