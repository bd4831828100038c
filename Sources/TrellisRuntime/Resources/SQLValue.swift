import Foundation
import PostgresNIO
import TrellisPostgres

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

    /// Appends the value; a NULL is declared as `type` (``dataType(castTo:)``).
    func append(to bindings: inout SQLBindings, nullAs type: PostgresDataType) {
        switch self {
        case .null: bindings.appendNull(as: type)
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

    /// The type postgres-nio sends this value as; for NULL, the type a value of a column of
    /// `sqlType` would be sent as (so a shape is the same statement whether or not a nullable
    /// field is null), or unspecified (Postgres takes the `::type` cast) for other types.
    func dataType(castTo sqlType: String) -> PostgresDataType {
        switch self {
        case .null:
            switch sqlType {
            case "text": .text
            case "bigint": .int8
            case "double precision": .float8
            case "boolean": .bool
            case "uuid": .uuid
            case "timestamptz": .timestamptz
            case "jsonb": JSONValue.psqlType
            case "text[]": .textArray
            case "bigint[]": .int8Array
            case "double precision[]": .float8Array
            case "boolean[]": .boolArray
            case "uuid[]": .uuidArray
            default: .null
            }
        case .text: String.psqlType
        case .integer: Int64.psqlType
        case .double: Double.psqlType
        case .bool: Bool.psqlType
        case .uuid: UUID.psqlType
        case .timestamp: Date.psqlType
        case .json: JSONValue.psqlType
        case .textArray: [String].psqlType
        case .integerArray: [Int64].psqlType
        case .doubleArray: [Double].psqlType
        case .boolArray: [Bool].psqlType
        case .uuidArray: [UUID].psqlType
        }
    }
}

/// Builds the text and bindings of one statement; every value becomes `$n::type`.
struct SQLBuilder {
    private(set) var sql = ""
    private(set) var bindings = SQLBindings(capacity: 16)

    mutating func append(_ text: String) {
        sql += text
    }

    /// Appends a placeholder for `value`, cast to `sqlType` so Postgres never guesses.
    mutating func bind(_ value: SQLValue, as sqlType: String) {
        value.append(to: &bindings, nullAs: value.dataType(castTo: sqlType))
        sql += "$\(bindings.count)::\(sqlType)"
    }

    /// The statement with its parameter types, to run as a prepared shape.
    var shaped: ShapedQuery { ShapedQuery(sql: sql, bindings: bindings) }

    /// The statement, never prepared (planned for its own values each time).
    var unnamed: ShapedQuery { ShapedQuery(sql: sql, bindings: bindings, unnamed: true) }
}
