/// How schema names become GraphQL names (DESIGN.md §5.1: camelCase fields), shared by the
/// generator that writes the SDL and the runtime that answers queries, so the two cannot
/// disagree on what `systemPrompt` or `AgentSort.CREATED_AT_DESC` means.
public enum GraphQLNames {
    /// `system_prompt` -> `systemPrompt`; `tool_calls` -> `toolCalls`.
    public static func camel(_ snake: String) -> String {
        let parts = snake.split(separator: "_", omittingEmptySubsequences: true)
        guard let first = parts.first else { return snake }
        return first.lowercased() + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// `tool_calls` -> `ToolCalls`.
    public static func pascal(_ snake: String) -> String {
        let camel = camel(snake)
        return camel.prefix(1).uppercased() + camel.dropFirst()
    }

    /// `created_at` -> `CREATED_AT`.
    public static func constant(_ snake: String) -> String { snake.uppercased() }

    /// The `EventTopic` value of a resource path (`agents` -> `AGENTS`); the path is its lowercase.
    public static func eventTopic(path: String) -> String { constant(path) }

    /// `/[_A-Za-z][_0-9A-Za-z]*/`, and not one of the words an enum value cannot be.
    public static func isValidEnumValue(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !["true", "false", "null"].contains(name) else { return false }
        func letter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" }
        return letter(first) && name.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
    }

    /// The sort enum's value for a key and direction: `NAME_ASC`, `CREATED_AT_DESC`.
    public static func sortValue(_ key: String, descending: Bool) -> String {
        constant(key) + (descending ? "_DESC" : "_ASC")
    }

    /// The field that follows a reference, on the referencing object: `swarm_id` -> `swarm`
    /// (a field not ending in `_id` gets `Ref`: `owner` -> `ownerRef`).
    public static func forwardRelation(field: String) -> String {
        field.hasSuffix("_id") && field.count > 3 ? camel(String(field.dropLast(3))) : camel(field) + "Ref"
    }

    /// The connection of referencing objects, on the referenced one: `agents` (from
    /// `agents.swarm_id`), or `agentsBySwarm` when one resource references it more than once.
    public static func reverseRelation(path: String, field: String, isOnlyReference: Bool) -> String {
        isOnlyReference ? camel(path) : camel(path) + "By" + pascal(field.hasSuffix("_id") ? String(field.dropLast(3)) : field)
    }

    /// The root field of one object: `agent` for `Agent`.
    public static func singular(type: String) -> String { type.prefix(1).lowercased() + type.dropFirst() }

    /// The root connection: `agents` for path `agents` (`agentList` when path and type read alike).
    public static func plural(path: String, type: String) -> String {
        let plural = camel(path)
        return plural == singular(type: type) ? plural + "List" : plural
    }

    /// The root search connection: `searchAgents`.
    public static func search(path: String) -> String { "search" + pascal(path) }

    /// The Relay global id of an object: base64 of `<Type>:<uuid>` (PostGraphile's convention
    /// of a type-carrying opaque id).
    public static let nodeIDSeparator = ":"
}
