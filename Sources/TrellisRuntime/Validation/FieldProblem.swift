/// One reason a body or query parameter was rejected, as listed in a problem's `errors`.
public struct FieldProblem: Sendable, Hashable, Error {
    /// The machine-readable reason. The set is part of the API contract (DESIGN.md §4).
    public enum Code: String, Sendable, Hashable, CaseIterable {
        case required
        case type
        case tooShort = "too_short"
        case tooLong = "too_long"
        case tooSmall = "too_small"
        case tooLarge = "too_large"
        case pattern
        case format
        case `enum`
        case unknownField = "unknown_field"
        case tooManyItems = "too_many_items"
        case readOnly = "read_only"
    }

    /// JSON Pointer to the offending value (`/tags/3`), or `/query/<name>` for query parameters.
    public var path: String
    public var code: Code
    public var message: String

    public init(path: String, code: Code, message: String) {
        self.path = path
        self.code = code
        self.message = message
    }
}

/// The outcome of validating client input: the typed value, or every problem found.
public enum Validated<Value: Sendable>: Sendable {
    case valid(Value)
    case invalid([FieldProblem])
}

/// Escapes a JSON object key for use as a JSON Pointer token (RFC 6901).
public func jsonPointerToken(_ key: String) -> String {
    guard key.contains("~") || key.contains("/") else { return key }
    return key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
}
