import Foundation
import PostgresNIO

/// Some of a resource's columns, read straight from a row into a JSON object: what GraphQL
/// answers when a query selects a few fields of many objects, without decoding the whole
/// model, writing it as JSON and parsing that back (two thirds of a nested query's CPU).
///
/// Each value has the form the model's generated `writeJSON` gives it (lowercase UUIDs,
/// RFC 3339 timestamps with microseconds, `date` columns as `YYYY-MM-DD`, enums as their
/// raw text), under the column's REST name, so REST and GraphQL serve the same values;
/// `SurfaceParityTests` compares the two over every column of every resource.
/// The row's `id` is always read, and always first.
public struct ColumnProjection: Sendable, Hashable {
    /// The columns read, in the descriptor's order; the first is `id`.
    public let columns: [ColumnDescriptor]
    /// How each column's cell becomes a JSON value, in ``columns`` order.
    let kinds: [JSONColumnKind]
    /// The columns, quoted, for a `SELECT`.
    let selectList: String

    /// `names` (REST column names) and `id`; a name the resource does not have is ignored.
    public init(_ descriptor: ResourceDescriptor, columns names: Set<String>) {
        columns = descriptor.columns.filter { $0.name == "id" || names.contains($0.name) }
        precondition(columns.first?.name == "id", "a resource's first column is its id")
        kinds = columns.map { JSONColumnKind(sqlType: $0.sqlType) }
        selectList = columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
    }

    /// Every column of the resource: the object REST returns.
    public init(all descriptor: ResourceDescriptor) {
        self.init(descriptor, columns: Set(descriptor.columns.map(\.name)))
    }

    /// The projected columns of `row` (which has them first, in order) as a JSON object.
    func object(_ row: PostgresRow) throws -> JSONObject {
        var cells = row.makeIterator()
        var members: [JSONObject.Member] = []
        members.reserveCapacity(columns.count)
        for (column, kind) in zip(columns, kinds) {
            guard let cell = cells.next() else { throw RowReaderError.missingColumn }
            members.append(JSONObject.Member(key: column.name, value: try kind.value(of: cell)))
        }
        return JSONObject(members)
    }
}

/// The JSON form of one column's Postgres type, as the generated models write it.
enum JSONColumnKind: Sendable, Hashable {
    case text, integer, double, bool, uuid, timestamp, date, json
    case textArray, integerArray, doubleArray, boolArray, uuidArray

    init(sqlType: String) {
        switch sqlType {
        case "bigint", "integer", "smallint": self = .integer
        case "double precision", "real": self = .double
        case "boolean": self = .bool
        case "uuid": self = .uuid
        case "timestamptz": self = .timestamp
        case "date": self = .date
        case "jsonb", "json": self = .json
        case "text[]": self = .textArray
        case "bigint[]": self = .integerArray
        case "double precision[]": self = .doubleArray
        case "boolean[]": self = .boolArray
        case "uuid[]": self = .uuidArray
        default: self = .text
        }
    }

    func value(of cell: PostgresCell) throws -> JSONValue {
        if cell.bytes == nil { return .null }
        switch self {
        case .text: return .string(try cell.decode(String.self))
        case .integer: return .integer(try cell.decode(Int64.self))
        case .double: return .double(try cell.decode(Double.self))
        case .bool: return .bool(try cell.decode(Bool.self))
        case .uuid: return .string(try cell.decode(UUID.self).lowercasedString)
        case .timestamp: return .string(RFC3339.format(try cell.decode(Date.self)))
        case .date: return .string(RFC3339.formatDate(try cell.decode(Date.self)))
        case .json: return try cell.decode(JSONValue.self)
        case .textArray:
            if let bytes = cell.bytes, cell.format == .binary, let strings = RowReader.textArray(bytes) {
                return .array(strings.map(JSONValue.string))
            }
            return .array(try cell.decode([String].self).map(JSONValue.string))
        case .integerArray: return .array(try cell.decode([Int64].self).map(JSONValue.integer))
        case .doubleArray: return .array(try cell.decode([Double].self).map(JSONValue.double))
        case .boolArray: return .array(try cell.decode([Bool].self).map(JSONValue.bool))
        case .uuidArray: return .array(try cell.decode([UUID].self).map { .string($0.lowercasedString) })
        }
    }
}
