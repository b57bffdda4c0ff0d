/// Why a header could not be read; turned into a SYSTEM_ERROR response with this text, which
/// names the field (as Java's `decodeCommandCustomHeader` does).
public struct HeaderError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The one way numbers are read from request headers. Every value is untrusted: a value that is
/// not a decimal integer, does not fit the field's type, or lies outside the field's range is
/// refused with an error naming the field, so no later arithmetic on it can trap.
extension RemotingCommand {
    /// A required header field, as Java's `decodeCommandCustomHeader` demands it.
    public func string(_ key: String) throws(HeaderError) -> String {
        guard let value = extFields[key] else {
            throw HeaderError("the custom field <\(key)> is null")
        }
        return value
    }

    public func optionalString(_ key: String) -> String? {
        guard let value = extFields[key], !value.isEmpty else { return nil }
        return value
    }

    /// A required integer field within `range`.
    public func integer<Value: FixedWidthInteger & Sendable>(
        _ key: String, as type: Value.Type = Value.self, in range: ClosedRange<Value> = Value.min...Value.max
    ) throws(HeaderError) -> Value {
        try Self.checkedInteger(try string(key), key: key, in: range)
    }

    /// An integer field that may be absent or empty (then `defaultValue`), else within `range`.
    public func optionalInteger<Value: FixedWidthInteger & Sendable>(
        _ key: String, default defaultValue: Value, in range: ClosedRange<Value> = Value.min...Value.max
    ) throws(HeaderError) -> Value {
        try optionalInteger(key, in: range) ?? defaultValue
    }

    /// An integer field that may be absent or empty (then nil), else within `range`.
    public func optionalInteger<Value: FixedWidthInteger & Sendable>(
        _ key: String, in range: ClosedRange<Value> = Value.min...Value.max
    ) throws(HeaderError) -> Value? {
        guard let text = extFields[key], !text.isEmpty else { return nil }
        return try Self.checkedInteger(text, key: key, in: range)
    }

    public func int64(_ key: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws(HeaderError)
        -> Int64
    {
        try integer(key, in: range)
    }

    public func int32(_ key: String, in range: ClosedRange<Int32> = Int32.min...Int32.max) throws(HeaderError)
        -> Int32
    {
        try integer(key, in: range)
    }

    /// Parses `text` (surrounding spaces allowed, as Java's `Long.parseLong` after fastjson's trim)
    /// as a `Value` in `range`.
    public static func checkedInteger<Value: FixedWidthInteger & Sendable>(
        _ text: String, key: String, in range: ClosedRange<Value>
    ) throws(HeaderError) -> Value {
        guard let wide = Int64(text) ?? Int64(text.trimmingCharacters()) else {
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            throw HeaderError("the custom field <\(key)> is not a number: \"\(shown)\"")
        }
        guard let value = Value(exactly: wide), range.contains(value) else {
            throw HeaderError(
                "the custom field <\(key)> is out of range: \(wide) (allowed \(range.lowerBound)...\(range.upperBound))"
            )
        }
        return value
    }

    /// Booleans: Java writes "true"/"false", the C++ client "1"/"0" (read as true/false here,
    /// unlike Java's `Boolean.parseBoolean`, which is what breaks C++ batches on Java brokers).
    public func bool(_ key: String) -> Bool {
        switch extFields[key]?.lowercased() {
        case "true", "1": true
        default: false
        }
    }
}
