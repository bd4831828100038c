import Foundation

/// Collects problems while generated validators read a JSON body. Every reader returns the
/// typed value, or nil after recording why not, so a validator keeps going and reports every
/// problem in one response.
public struct Validator: Sendable {
    public private(set) var problems: [FieldProblem] = []

    public init() {}

    public var isValid: Bool { problems.isEmpty }

    public mutating func report(_ path: String, _ code: FieldProblem.Code, _ message: String) {
        problems.append(FieldProblem(path: path, code: code, message: message))
    }

    // MARK: Object-level problems

    public mutating func missing(_ path: String) {
        report(path, .required, "is required")
    }

    public mutating func unknownField(_ key: String) {
        report("/" + jsonPointerToken(key), .unknownField, "is not a field of this object")
    }

    public mutating func readOnly(_ path: String) {
        report(path, .readOnly, "is set by the server and cannot be written")
    }

    public mutating func writeOnce(_ path: String) {
        report(path, .readOnly, "can only be set when the object is created")
    }

    /// The body's top level must be an object.
    public mutating func object(_ value: JSONValue) -> JSONObject? {
        guard case let .object(object) = value else {
            report("", .type, "must be a JSON object, not \(article(value.typeName))")
            return nil
        }
        return object
    }

    /// `null` given for a field that cannot be null.
    public mutating func notNull(_ path: String) {
        report(path, .type, "must not be null")
    }

    // MARK: Scalars

    /// A string; with `nfc` (generated for `unique` fields) it is normalized to Unicode NFC
    /// before any check, so `café` typed composed or decomposed is one stored value.
    public mutating func string(
        _ value: JSONValue, at path: String, minLength: Int? = nil, maxLength: Int? = nil, nfc: Bool = false,
        pattern: FieldPattern? = nil
    ) -> String? {
        guard case let .string(string) = value else {
            return typeMismatch(value, at: path, expected: "a string")
        }
        let normalized = nfc ? string.precomposedStringWithCanonicalMapping : string
        return checkLength(normalized, at: path, minLength: minLength, maxLength: maxLength, pattern: pattern)
    }

    public mutating func email(
        _ value: JSONValue, at path: String, minLength: Int? = nil, maxLength: Int? = nil, nfc: Bool = false,
        pattern: FieldPattern? = nil
    ) -> String? {
        guard let string = string(value, at: path, minLength: minLength, maxLength: maxLength, nfc: nfc, pattern: pattern) else { return nil }
        guard Formats.isEmail(string) else {
            report(path, .format, "must be an email address")
            return nil
        }
        return string
    }

    public mutating func url(
        _ value: JSONValue, at path: String, minLength: Int? = nil, maxLength: Int? = nil, nfc: Bool = false,
        pattern: FieldPattern? = nil
    ) -> String? {
        guard let string = string(value, at: path, minLength: minLength, maxLength: maxLength, nfc: nfc, pattern: pattern) else { return nil }
        guard Formats.isHTTPURL(string) else {
            report(path, .format, "must be an absolute http(s) URL")
            return nil
        }
        return string
    }

    public mutating func uuid(_ value: JSONValue, at path: String) -> UUID? {
        guard case let .string(string) = value else { return typeMismatch(value, at: path, expected: "a UUID string") }
        guard let uuid = UUID(uuidString: string) else {
            report(path, .format, "must be a UUID")
            return nil
        }
        return uuid
    }

    public mutating func datetime(_ value: JSONValue, at path: String) -> Date? {
        guard case let .string(string) = value else { return typeMismatch(value, at: path, expected: "an RFC 3339 timestamp string") }
        guard let date = RFC3339.parse(string) else {
            report(path, .format, "must be an RFC 3339 timestamp such as 2026-01-31T09:30:00Z")
            return nil
        }
        return date
    }

    public mutating func date(_ value: JSONValue, at path: String) -> Date? {
        guard case let .string(string) = value else { return typeMismatch(value, at: path, expected: "a date string") }
        guard let date = RFC3339.parseDate(string) else {
            report(path, .format, "must be a date such as 2026-01-31")
            return nil
        }
        return date
    }

    public mutating func integer(_ value: JSONValue, at path: String, minimum: Int64? = nil, maximum: Int64? = nil) -> Int64? {
        let integer: Int64
        switch value {
        case let .integer(i): integer = i
        case let .double(d) where d == d.rounded() && abs(d) < 9.0e15: integer = Int64(d)
        default: return typeMismatch(value, at: path, expected: "an integer")
        }
        if let minimum, integer < minimum {
            report(path, .tooSmall, "must be at least \(minimum)")
            return nil
        }
        if let maximum, integer > maximum {
            report(path, .tooLarge, "must be at most \(maximum)")
            return nil
        }
        return integer
    }

    public mutating func number(_ value: JSONValue, at path: String, minimum: Double? = nil, maximum: Double? = nil) -> Double? {
        let number: Double
        switch value {
        case let .integer(i): number = Double(i)
        case let .double(d): number = d
        default: return typeMismatch(value, at: path, expected: "a number")
        }
        if let minimum, number < minimum {
            report(path, .tooSmall, "must be at least \(Formats.number(minimum))")
            return nil
        }
        if let maximum, number > maximum {
            report(path, .tooLarge, "must be at most \(Formats.number(maximum))")
            return nil
        }
        return number
    }

    public mutating func boolean(_ value: JSONValue, at path: String) -> Bool? {
        guard case let .bool(bool) = value else { return typeMismatch(value, at: path, expected: "a boolean") }
        return bool
    }

    public mutating func enumeration<E: SchemaEnum>(_ value: JSONValue, at path: String, as type: E.Type) -> E? {
        guard case let .string(string) = value else { return typeMismatch(value, at: path, expected: "a string") }
        guard let result = E(rawValue: string) else {
            report(path, .enum, "must be one of: " + E.allCases.map(\.rawValue).joined(separator: ", "))
            return nil
        }
        return result
    }

    public mutating func object(_ value: JSONValue, at path: String) -> JSONValue? {
        guard case .object = value else { return typeMismatch(value, at: path, expected: "an object") }
        return value
    }

    /// Reads an array, validating each element with `element`; `nil` if the array or any element is invalid.
    public mutating func array<Element>(
        _ value: JSONValue, at path: String, minItems: Int? = nil, maxItems: Int? = nil,
        element: (inout Validator, JSONValue, String) -> Element?
    ) -> [Element]? {
        guard case let .array(elements) = value else { return typeMismatch(value, at: path, expected: "an array") }
        var valid = true
        if let minItems, elements.count < minItems {
            report(path, .tooShort, "must have at least \(minItems) item\(minItems == 1 ? "" : "s")")
            valid = false
        }
        var checked = elements[...]
        if let maxItems, elements.count > maxItems {
            report(path, .tooManyItems, "must have at most \(maxItems) item\(maxItems == 1 ? "" : "s")")
            valid = false
            // Items past the limit are not checked: their problems would only add noise and work.
            checked = elements.prefix(maxItems)
        }
        var result: [Element] = []
        result.reserveCapacity(checked.count)
        for (index, item) in checked.enumerated() {
            if let parsed = element(&self, item, path + "/" + String(index)) {
                result.append(parsed)
            } else {
                valid = false
            }
        }
        return valid ? result : nil
    }

    // MARK: Helpers

    private mutating func checkLength(
        _ string: String, at path: String, minLength: Int?, maxLength: Int?, pattern: FieldPattern?
    ) -> String? {
        if string.utf8.contains(0) {
            report(path, .format, "must not contain NUL (U+0000) characters")
            return nil
        }
        // The scalar count never exceeds the UTF-8 byte count, so short strings skip counting.
        if minLength != nil || (maxLength.map { string.utf8.count > $0 } ?? false) {
            let count = string.unicodeScalars.count  // matches Postgres char_length
            if let minLength, count < minLength {
                report(path, .tooShort, "must be at least \(minLength) character\(minLength == 1 ? "" : "s")")
                return nil
            }
            if let maxLength, count > maxLength {
                report(path, .tooLong, "must be at most \(maxLength) character\(maxLength == 1 ? "" : "s")")
                return nil
            }
        }
        if let pattern, !pattern.matches(string) {
            report(path, .pattern, "must match the pattern \(pattern.source)")
            return nil
        }
        return string
    }

    private mutating func typeMismatch<T>(_ value: JSONValue, at path: String, expected: String) -> T? {
        if case .null = value {
            report(path, .type, "must not be null")
        } else {
            report(path, .type, "must be \(expected), not \(article(value.typeName))")
        }
        return nil
    }

    private func article(_ typeName: String) -> String {
        switch typeName {
        case "null": "null"
        case "integer", "array", "object": "an \(typeName)"
        default: "a \(typeName)"
        }
    }
}

extension Validator {
    /// Any JSON array, kept as JSON (nested arrays inside array fields).
    public mutating func jsonArray(_ value: JSONValue, at path: String) -> JSONValue? {
        guard case .array = value else {
            report(path, .type, value == .null ? "must not be null" : "must be an array, not \(value.typeName)")
            return nil
        }
        return value
    }
}
