import NIOCore

/// The JSON header, read and written directly (no `JSONValue` tree): it is on the path of every
/// request and response.
///
/// ```
/// {"code":310,"extFields":{"a":"PG",...},"flag":0,"language":"JAVA","opaque":7,
///  "serializeTypeCurrentRPC":"JSON","version":407}
/// ```
/// Reading is as lenient as `JSONValue.parse` (fastjson's bare keys, numbers for strings and
/// strings for numbers); unknown keys are skipped.
extension RemotingCommand {
    static func decodeJSONHeader(_ header: ByteBuffer) throws(RemotingDecodeError) -> RemotingCommand {
        var parser = JSONParser(bytes: Array(header.readableBytesView))
        var command = RemotingCommand(code: 0, language: "OTHER", version: 0)
        var sawCode = false
        do throws(JSONParseError) {
            try parser.parseObjectMembers(depth: 0) { (parser, key) throws(JSONParseError) in
                switch key {
                case "code":
                    guard let code = try parser.parseIntegerValue(), let code32 = Int32(exactly: code) else {
                        throw parser.error("invalid code")
                    }
                    command.code = code32
                    sawCode = true
                case "version": command.version = Int32(truncatingIfNeeded: try parser.parseIntegerValue() ?? 0)
                case "opaque": command.opaque = Int32(truncatingIfNeeded: try parser.parseIntegerValue() ?? 0)
                case "flag": command.flag = Int32(truncatingIfNeeded: try parser.parseIntegerValue() ?? 0)
                case "language": command.language = try parser.parseTextValue(depth: 1) ?? "OTHER"
                case "remark": command.remark = try parser.parseTextValue(depth: 1)
                case "extFields":
                    parser.skipWhitespace()
                    if parser.peek == UInt8(ascii: "{") {
                        // Sends carry about a dozen fields: one allocation instead of regrowing.
                        command.extFields.reserveCapacity(16)
                        try parser.parseObjectMembers(depth: 1) { (parser, name) throws(JSONParseError) in
                            if let text = try parser.parseTextValue(depth: 2) { command.extFields[name] = text }
                        }
                    } else {
                        _ = try parser.parseValue(depth: 1)
                    }
                default: _ = try parser.parseValue(depth: 1)
                }
            }
            parser.skipWhitespace()
            guard parser.index == parser.bytes.count else { throw parser.error("trailing characters") }
        } catch {
            throw .badJSONHeader(error.description)
        }
        guard sawCode else { throw .badJSONHeader("missing or invalid code") }
        return command
    }

    func writeJSONHeader(into out: inout ByteBuffer) {
        // Built in an array and copied once: many small ByteBuffer writes cost more.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + extFields.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
        bytes.append(contentsOf: #"{"code":"#.utf8)
        bytes.append(contentsOf: String(code).utf8)
        bytes.append(contentsOf: #","extFields":{"#.utf8)
        var first = true
        // In the dictionary's order: a JSON object's members have none, and sorting costs an
        // allocation per frame.
        for (key, value) in extFields {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            JSONValue.writeString(key, into: &bytes)
            bytes.append(UInt8(ascii: ":"))
            JSONValue.writeString(value, into: &bytes)
        }
        bytes.append(contentsOf: #"},"flag":"#.utf8)
        bytes.append(contentsOf: String(flag).utf8)
        bytes.append(contentsOf: #","language":"#.utf8)
        JSONValue.writeString(language, into: &bytes)
        bytes.append(contentsOf: #","opaque":"#.utf8)
        bytes.append(contentsOf: String(opaque).utf8)
        if let remark {
            bytes.append(contentsOf: #","remark":"#.utf8)
            JSONValue.writeString(remark, into: &bytes)
        }
        bytes.append(contentsOf: #","serializeTypeCurrentRPC":"JSON","version":"#.utf8)
        bytes.append(contentsOf: String(version).utf8)
        bytes.append(UInt8(ascii: "}"))
        out.writeBytes(bytes)
    }
}
