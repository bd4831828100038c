import Foundation
import PostgresNIO

/// A value bound into a query. Generated inputs turn their fields into these, so the
/// runtime can build INSERT/UPDATE statements without knowing the concrete types.
public enum SQLValue: Sendable, Hashable {
    case null
    case text(String)
    case integer(Int64)
    case double(Double)
    case bool(Bool)
    case uuid(UUID)
    case timestamp(Date)
    case json(JSONValue)
    case textArray([String])
    case integerArray([Int64])
    case doubleArray([Double])
    case boolArray([Bool])
    case uuidArray([UUID])

    /// Converts an optional Swift value, mapping nil to `.null`.
    public static func from<T>(_ value: T?, _ make: (T) -> SQLValue) -> SQLValue {
        value.map(make) ?? .null
    }

    func append(to bindings: inout PostgresBindings) {
        switch self {
        case .null: bindings.appendNull()
        case let .text(v): bindings.append(v)
        case let .integer(v): bindings.append(v)
        case let .double(v): bindings.append(v)
        case let .bool(v): bindings.append(v)
        case let .uuid(v): bindings.append(v)
        case let .timestamp(v): bindings.append(v)
        case let .json(v): bindings.append(v)
        case let .textArray(v): bindings.append(v)
        case let .integerArray(v): bindings.append(v)
        case let .doubleArray(v): bindings.append(v)
        case let .boolArray(v): bindings.append(v)
        case let .uuidArray(v): bindings.append(v)
        }
    }
}

/// Builds the text and bindings of one statement; every value becomes `$n::type`.
struct SQLBuilder {
    private(set) var sql = ""
    private(set) var bindings = PostgresBindings(capacity: 16)

    mutating func append(_ text: String) {
        sql += text
    }

    /// Appends a placeholder for `value`, cast to `sqlType` so Postgres never guesses.
    mutating func bind(_ value: SQLValue, as sqlType: String) {
        value.append(to: &bindings)
        sql += "$\(bindings.count)::\(sqlType)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: bindings) }
}
