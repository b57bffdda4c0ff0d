/// A JSON value as RocketMQ peers write it.
///
/// Numbers keep their literal text: the C++ client sends some header values as numbers and
/// Java reads every header value as a string, so `4` must become `"4"`, not `4.0`.
/// Objects are written with keys in byte order, like fastjson.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public static func int<T: BinaryInteger>(_ value: T) -> JSONValue { .number(String(value)) }

    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    /// A string, or a number/bool rendered as text (what Java does reading a header value).
    public var text: String? {
        switch self {
        case .string(let value): value
        case .number(let value): value
        case .bool(let value): value ? "true" : "false"
        case .null, .array, .object: nil
        }
    }

    /// An integer from a number or a numeric string (fastjson accepts both).
    public var int64: Int64? {
        switch self {
        case .number(let text), .string(let text):
            if let value = Int64(text) { return value }
            if let double = Double(text), double.rounded() == double, abs(double) < 9.2e18 { return Int64(double) }
            return nil
        case .bool(let value): return value ? 1 : 0
        default: return nil
        }
    }

    public var int: Int? { int64.map { Int(truncatingIfNeeded: $0) } }

    /// An integer that fits an `Int32` (a Java `int` field); nil when absent or out of range.
    public var int32: Int32? { int64.flatMap { Int32(exactly: $0) } }

    /// `true`/`false`, and the C++ client's `"1"`/`"0"`.
    public var bool: Bool? {
        switch self {
        case .bool(let value): return value
        case .string(let text), .number(let text):
            switch text.lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            default: return nil
            }
        default: return nil
        }
    }

    public var array: [JSONValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let fields) = self { return fields }
        return nil
    }
}

public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Parses one JSON document. Accepts fastjson's unquoted object keys (`{0:"addr"}`),
    /// raw control characters inside strings and surrounding whitespace (the C++ client ends
    /// its documents with `\n`). Nesting is limited so hostile input cannot exhaust the stack.
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: Array(bytes))
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    public func serialized() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func serializedBytes() -> [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let text): Self.writeString(text, into: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (position, value) in values.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (position, key) in fields.keys.sorted().enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                if Self.isObjectKey(key) {
                    out.append(contentsOf: key.utf8)  // fastjson's object map key, written bare
                } else {
                    Self.writeString(key, into: &out)
                }
                out.append(UInt8(ascii: ":"))
                fields[key]!.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A key that is a serialized JSON object (fastjson's map keys of object type).
    static func isObjectKey(_ key: String) -> Bool {
        guard key.utf8.first == UInt8(ascii: "{"), key.utf8.last == UInt8(ascii: "}"),
            case .object = try? JSONValue.parse(Array(key.utf8))
        else {
            return false
        }
        return true
    }

    static func needsEscaping(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            // Runs of plain bytes are copied whole; only the bytes between them are escaped.
            var runStart = 0
            for (position, byte) in utf8.enumerated() where needsEscaping(byte) {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<position]))
                appendEscaped(byte, into: &out)
                runStart = position + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func appendEscaped(_ byte: UInt8, into out: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        default:
            out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0xF)])
        }
    }
}

struct JSONParser {
    static let maximumDepth = 64
    let bytes: [UInt8]
    var index = 0

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    mutating func skipWhitespace() {
        while index < bytes.count,
            bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09
        {
            index += 1
        }
    }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    /// A value read as a header reads it: strings, numbers and booleans as text; nil for null,
    /// arrays and objects (which are skipped).
    mutating func parseTextValue(depth: Int) throws(JSONParseError) -> String? {
        skipWhitespace()
        guard let next = peek else { throw error("unexpected end") }
        switch next {
        case UInt8(ascii: "\""): return try parseString()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: return try parseValue(depth: depth).text
        }
    }

    /// An integer from a number or a numeric string; nil for anything else (null, text, 1.5).
    mutating func parseIntegerValue() throws(JSONParseError) -> Int64? {
        skipWhitespace()
        let start = index
        var negative = false
        if peek == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value: Int64 = 0
        var digits = 0
        while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 18 {
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        if digits > 0, let next = peek, next == UInt8(ascii: ",") || next == UInt8(ascii: "}") || next <= 0x20 {
            return negative ? -value : value
        }
        index = start  // not a plain integer: the general path
        return try parseValue(depth: 1).int64  // nil for null and for what is no integer, as before
    }

    /// Reads `{ key: value, ... }`, handing each key to `member`, which must consume its value.
    mutating func parseObjectMembers(
        depth: Int, _ member: (inout JSONParser, String) throws(JSONParseError) -> Void
    ) throws(JSONParseError) {
        guard depth < Self.maximumDepth else { throw error("nested too deeply") }
        skipWhitespace()
        guard peek == UInt8(ascii: "{") else { throw error("expected an object") }
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard let next = peek else { throw error("unterminated object") }
            let key: String
            if next == UInt8(ascii: "\"") {
                key = try parseString()
            } else if next == UInt8(ascii: "{") {
                // fastjson writes object map keys as objects: {{"topic":"T","queueId":0}:5}.
                key = try parseObject(depth: depth + 1).serialized()
            } else {
                key = try parseBareKey()
            }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            try member(&self, key)
            skipWhitespace()
            guard let separator = peek else { throw error("unterminated object") }
            if separator == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard separator == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            index += 1
            return
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < Self.maximumDepth else { throw error("nested too deeply") }
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectWord("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectWord("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectWord("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character \(bytes[index])")
        }
    }

    mutating func expectWord(_ word: String) throws(JSONParseError) {
        let expected = Array(word.utf8)
        guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else {
            throw error("expected \(word)")
        }
        index += expected.count
    }

    mutating func parseNumber() throws(JSONParseError) -> String {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        while index < bytes.count {
            let byte = bytes[index]
            let isNumberByte =
                (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+")
                || byte == UInt8(ascii: "-")
            guard isNumberByte else { break }
            index += 1
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard Double(text) != nil else { throw error("bad number \(text)") }
        return text
    }

    mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        // Most strings have no escapes: take them in one piece.
        var end = index
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            defer { index = end + 1 }
            return String(decoding: bytes[index..<end], as: UTF8.self)
        }
        var scalars: [UInt8] = []
        scalars.reserveCapacity(end - index + 16)
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\"") { break }
            guard byte == UInt8(ascii: "\\") else {
                scalars.append(byte)
                continue
            }
            guard index < bytes.count else { throw error("unterminated escape") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800..<0xDC00).contains(code), index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                {
                    index += 2
                    let low = try parseHex4()
                    if (0xDC00..<0xE000).contains(low) { code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00) }
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                // Properties strings escape every \u0001 and \u0002: no allocation per escape.
                UTF8.encode(scalar) { scalars.append($0) }
            default: throw error("bad escape")
            }
        }
        return String(decoding: scalars, as: UTF8.self)
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("bad hex digit")
            }
            value = value << 4 | digit
        }
        return value
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        var fields: [String: JSONValue] = [:]
        try parseObjectMembers(depth: depth) { (parser, key) throws(JSONParseError) in
            fields[key] = try parser.parseValue(depth: depth + 1)
        }
        return .object(fields)
    }

    /// fastjson writes non-string map keys bare: `{0:"127.0.0.1:10911"}`.
    mutating func parseBareKey() throws(JSONParseError) -> String {
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            let isKeyByte =
                (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            guard isKeyByte else { break }
            index += 1
        }
        guard index > start else { throw error("expected an object key") }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        index += 1
        var values: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(values)
        }
        while true {
            values.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw error("unterminated array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            index += 1
            return .array(values)
        }
    }
}
