import Foundation
import TrellisRuntime

/// Typical `POST /v1/agents` bodies, generated deterministically: every field of the sample
/// schema's agent, a system prompt of a few hundred characters (with the odd quote, newline
/// and non-ASCII character a real prompt has), a handful of tags and a small config object.
/// Every body is valid, so both paths should accept all of them.
enum AgentBodies {
    static let words = [
        "research", "assistant", "summarize", "the", "documents", "carefully", "and", "cite", "sources", "when",
        "possible", "answer", "in", "plain", "English", "avoid", "speculation", "use", "tools", "only", "if",
        "needed", "planner", "reviewer", "coder", "writes", "tests", "before", "code", "keeps", "replies", "short",
        "friendly", "précis", "naïve", "café", "data", "report", "analyst", "support", "triage", "tickets",
    ]
    static let tags = [
        "research", "support", "internal", "beta", "eu-west", "customer-facing", "long-context", "tools", "rag",
        "summaries", "code-review", "on-call", "experimental", "v2", "gpt-fallback", "low-latency",
    ]
    static let roles = ["Researcher", "Planner", "Code reviewer", "Support triage", "Summarizer", "Data analyst", "Writer"]
    static let models = ["claude", "gpt", "gemini"]
    static let toolNames = ["web_search", "code_interpreter", "retrieval", "calculator", "sql", "http_get"]

    static func words(_ count: Int, using rng: inout SeededGenerator) -> String {
        (0..<count).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ")
    }

    /// 200-600 characters of prompt text.
    static func systemPrompt(using rng: inout SeededGenerator) -> String {
        let target = Int.random(in: 200...600, using: &rng)
        var text = "You are a " + words(2, using: &rng) + "."
        while text.unicodeScalars.count < target {
            let sentence = words(Int.random(in: 5...14, using: &rng), using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: text += "\n\n- " + sentence
            case 1: text += " Say \"" + sentence + "\" when unsure."
            case 2: text += " " + sentence.capitalized + " — then stop 🙂."
            default: text += " " + sentence.prefix(1).uppercased() + sentence.dropFirst() + "."
            }
        }
        return String(String.UnicodeScalarView(text.unicodeScalars.prefix(target)))
    }

    static func config(using rng: inout SeededGenerator) -> JSONValue {
        var members: [JSONObject.Member] = []
        func add(_ key: String, _ value: JSONValue) { members.append(JSONObject.Member(key: key, value: value)) }
        add("max_tokens", .integer(Int64([256, 512, 1024, 2048, 4096].randomElement(using: &rng)!)))
        if Bool.random(using: &rng) { add("top_p", .double(Double(Int.random(in: 50...100, using: &rng)) / 100)) }
        let tools = toolNames.shuffled(using: &rng).prefix(Int.random(in: 0...3, using: &rng))
        add("tools", .array(tools.map { .string($0) }))
        if Bool.random(using: &rng) {
            add("memory", .object(JSONObject([
                "kind": .string(Bool.random(using: &rng) ? "window" : "summary"),
                "size": .integer(Int64.random(in: 5...50, using: &rng)),
            ])))
        }
        if Int.random(in: 0..<4, using: &rng) == 0 { add("stop", .array([.string("\n\nHuman:"), .string("</answer>")])) }
        add("verbose", .bool(Bool.random(using: &rng)))
        return .object(JSONObject(members))
    }

    static func body(using rng: inout SeededGenerator) -> JSONValue {
        var members: [JSONObject.Member] = []
        func add(_ key: String, _ value: JSONValue) { members.append(JSONObject.Member(key: key, value: value)) }
        let name = words(Int.random(in: 1...5, using: &rng), using: &rng)
        add("name", .string(String(name.unicodeScalars.prefix(200).map(Character.init))))
        if Int.random(in: 0..<5, using: &rng) > 0 { add("role", .string(roles.randomElement(using: &rng)!)) }
        add("system_prompt", .string(systemPrompt(using: &rng)))
        add("model", .string(models.randomElement(using: &rng)!))
        // Mostly decimals, sometimes an integer (JSON `1`), as clients send.
        let temperature = Double(Int.random(in: 0...200, using: &rng)) / 100
        add("temperature", temperature == temperature.rounded() ? .integer(Int64(temperature)) : .double(temperature))
        add("is_active", .bool(Int.random(in: 0..<5, using: &rng) > 0))
        if Int.random(in: 0..<3, using: &rng) == 0 {
            var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes[6] = (bytes[6] & 0x0F) | 0x70
            bytes[8] = (bytes[8] & 0x3F) | 0x80
            let hex = bytes.map { String(format: "%02x", $0) }.joined()
            let uuid = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
                .joined(separator: "-")
            add("swarm_id", .string(uuid))
        }
        let tagCount = Int.random(in: 0...8, using: &rng)
        add("tags", .array(tags.shuffled(using: &rng).prefix(tagCount).map { .string($0) }))
        add("config", config(using: &rng))
        if Int.random(in: 0..<4, using: &rng) == 0 {
            add("owner_email", .string(words(1, using: &rng).filter(\.isASCII).lowercased() + "\(Int.random(in: 1...999, using: &rng))@example.com"))
        }
        return .object(JSONObject(members))
    }

    /// `count` bodies as compact UTF-8 JSON.
    static func make(count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            var writer = JSONWriter(capacity: 1024)
            writer.value(body(using: &rng))
            return writer.bytes
        }
    }
}

/// The same body as a plain `Decodable`, for the `JSONDecoder` baseline.
struct AgentCreateDecodable: Decodable {
    enum Model: String, Decodable {
        case claude, gpt, gemini
    }

    var name: String
    var role: String?
    var systemPrompt: String?
    var model: Model?
    var temperature: Double?
    var isActive: Bool?
    var swarmID: UUID?
    var tags: [String]?
    /// The schema's `config` is `type: object`, so the root is a keyed container.
    var config: [String: AnyJSON]?
    var ownerEmail: String?

    enum CodingKeys: String, CodingKey {
        case name, role
        case systemPrompt = "system_prompt"
        case model, temperature
        case isActive = "is_active"
        case swarmID = "swarm_id"
        case tags, config
        case ownerEmail = "owner_email"
    }
}

/// The same body with `config` as a struct of the keys the generator uses: the fastest
/// `JSONDecoder` baseline possible, though it no longer accepts free-form config.
struct AgentCreateTypedConfigDecodable: Decodable {
    struct Config: Decodable {
        struct Memory: Decodable {
            var kind: String
            var size: Int
        }

        var maxTokens: Int?
        var topP: Double?
        var tools: [String]?
        var memory: Memory?
        var stop: [String]?
        var verbose: Bool?

        enum CodingKeys: String, CodingKey {
            case maxTokens = "max_tokens"
            case topP = "top_p"
            case tools, memory, stop, verbose
        }
    }

    var name: String
    var role: String?
    var systemPrompt: String?
    var model: AgentCreateDecodable.Model?
    var temperature: Double?
    var isActive: Bool?
    var swarmID: UUID?
    var tags: [String]?
    var config: Config?
    var ownerEmail: String?

    enum CodingKeys: String, CodingKey {
        case name, role
        case systemPrompt = "system_prompt"
        case model, temperature
        case isActive = "is_active"
        case swarmID = "swarm_id"
        case tags, config
        case ownerEmail = "owner_email"
    }
}

/// Free-form JSON (the `config` jsonb field) for `Decodable`: the usual single-value-container
/// enum, trying the likeliest types first.
enum AnyJSON: Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([AnyJSON])
    case object([String: AnyJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let array = try? container.decode([AnyJSON].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: AnyJSON].self))
        }
    }
}
