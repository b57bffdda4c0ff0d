/// Java `.properties` files, the format of RocketMQ's `broker.conf` and `namesrv.conf`.
///
/// Supported: `key=value`, `key: value` and `key value`; `#` and `!` comments; a trailing
/// backslash continues a line; `\t`, `\n`, `\\`, `\=`, `\:` escapes. Later keys win, as in Java.
public enum PropertiesFile {
    public static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var logical = ""
        var continuing = false
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            var line = Substring(rawLine)
            if continuing {
                line = line.drop(while: { $0 == " " || $0 == "\t" })
            } else {
                line = line.drop(while: { $0 == " " || $0 == "\t" || $0 == "\u{0C}" })
                if line.isEmpty || line.first == "#" || line.first == "!" { continue }
            }
            if endsWithContinuation(line) {
                logical += line.dropLast()
                continuing = true
                continue
            }
            logical += line
            continuing = false
            if let (key, value) = splitKeyValue(logical) { result[key] = value }
            logical = ""
        }
        if continuing, let (key, value) = splitKeyValue(logical) { result[key] = value }
        return result
    }

    /// Renders `key=value` lines sorted by key (what `-p` prints and what tests write).
    public static func render(_ values: [String: String]) -> String {
        values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: "\n") + "\n"
    }

    private static func endsWithContinuation(_ line: Substring) -> Bool {
        var backslashes = 0
        for character in line.reversed() {
            guard character == "\\" else { break }
            backslashes += 1
        }
        return backslashes % 2 == 1
    }

    private static func splitKeyValue(_ line: String) -> (String, String)? {
        var key = ""
        var index = line.startIndex
        var escaped = false
        while index < line.endIndex {
            let character = line[index]
            if escaped {
                key.append(unescape(character))
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "=" || character == ":" || character == " " || character == "\t" {
                break
            } else {
                key.append(character)
            }
            index = line.index(after: index)
        }
        guard !key.isEmpty else { return nil }
        // Skip whitespace, then at most one separator, then whitespace.
        while index < line.endIndex, line[index] == " " || line[index] == "\t" { index = line.index(after: index) }
        if index < line.endIndex, line[index] == "=" || line[index] == ":" { index = line.index(after: index) }
        while index < line.endIndex, line[index] == " " || line[index] == "\t" { index = line.index(after: index) }
        var value = ""
        escaped = false
        for character in line[index...] {
            if escaped {
                value.append(unescape(character))
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                value.append(character)
            }
        }
        return (key, value.trimmingTrailingWhitespace())
    }

    private static func unescape(_ character: Character) -> Character {
        switch character {
        case "t": "\t"
        case "n": "\n"
        case "r": "\r"
        case "f": "\u{0C}"
        default: character
        }
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var copy = self
        while let last = copy.last, last == " " || last == "\t" { copy.removeLast() }
        return copy
    }
}
