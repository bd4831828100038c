import TrellisSchema

/// How schema names become Swift names. Kept in one place so every emitter agrees.
enum SwiftNaming {
    /// Initialisms written in capitals in Swift identifiers (`swarm_id` -> `swarmID`).
    static let initialisms: Set<String> = ["id", "url", "uri", "api", "uuid", "json", "http", "ip", "sql"]

    /// `swarm_id` -> `swarmID`, `system_prompt` -> `systemPrompt`; keywords are back-quoted.
    static func property(_ snake: String) -> String {
        let parts = snake.split(separator: "_").map(String.init)
        guard let first = parts.first else { return "_" }
        var result = first
        for part in parts.dropFirst() {
            result += initialisms.contains(part) ? part.uppercased() : part.prefix(1).uppercased() + part.dropFirst()
        }
        return escaped(result)
    }

    /// `is_active` -> `IsActive`, `swarm_id` -> `SwarmID`.
    static func type(_ snake: String) -> String {
        snake.split(separator: "_").map { part in
            initialisms.contains(String(part)) ? part.uppercased() : part.prefix(1).uppercased() + part.dropFirst()
        }.joined()
    }

    /// An enum case name for an enum value (`user` -> `user`, `default` -> `` `default` ``).
    static func enumCase(_ value: String) -> String { property(value) }

    static func escaped(_ name: String) -> String {
        keywords.contains(name) ? "`\(name)`" : name
    }

    /// A Swift string literal, escaped.
    static func literal(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init", "inout",
        "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public", "rethrows",
        "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue", "default",
        "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "throw", "switch",
        "where", "while", "Any", "as", "await", "false", "is", "nil", "self", "Self", "super", "throws", "true",
        "try", "some", "any", "Type", "Protocol",
    ]
}
