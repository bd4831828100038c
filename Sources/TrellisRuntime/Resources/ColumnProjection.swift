import Foundation
import PostgresNIO
import Synchronization
import TrellisPostgres

/// Some of a resource's columns, written straight from a row as JSON: what GraphQL answers
/// when a query selects a few fields of many objects (``ProjectedCells``), and what a REST
/// page sends, without decoding the whole model and writing it.
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
    /// Each column's member name, written: `"name":`.
    let keys: [[UInt8]]

    /// `names` (REST column names) and `id`; a name the resource does not have is ignored.
    public init(_ descriptor: ResourceDescriptor, columns names: Set<String>) {
        columns = descriptor.columns.filter { $0.name == "id" || names.contains($0.name) }
        precondition(columns.first?.name == "id", "a resource's first column is its id")
        kinds = columns.map { JSONColumnKind(sqlType: $0.sqlType) }
        selectList = columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
        keys = columns.map { renderedKey($0.name) }
    }

    /// Every column of the resource: the object REST returns.
    public init(all descriptor: ResourceDescriptor) {
        self.init(descriptor, columns: Set(descriptor.columns.map(\.name)))
    }

    /// The projected columns of `row` (which has them first, in order) written as one JSON
    /// object, byte for byte as the model decoded from it would write itself: what a REST or
    /// JSON-RPC page sends, without building the model (a fifth of a 20-row list's CPU went
    /// to decoding the models and writing them).
    ///
    /// The cells are read in place (``SQLRow/withUnsafeCells(_:)``); a cell the in-place
    /// writer declines (a type it does not read itself, or bytes it would not accept) is
    /// written from its `PostgresCell`, which also throws that cell's decoding error.
    func write(_ row: SQLRow, to w: inout JSONWriter) throws {
        try row.withUnsafeCells { cells in
            w.beginObject()
            for index in kinds.indices {
                guard let cell = cells.next() else { throw RowReaderError.missingColumn }
                w.member(keys[index])
                try kinds[index].write(cell, of: row, to: &w)
            }
            w.endObject()
        }
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

    /// ``value(of:)``, written: the same text, with the common kinds written from the cell's
    /// bytes instead of through a `JSONValue`.
    func write(_ cell: PostgresCell, to w: inout JSONWriter) throws {
        guard let bytes = cell.bytes else { return w.null() }
        switch self {
        case .text:
            switch cell.dataType {
            case .text, .varchar, .bpchar, .name: w.value(utf8: bytes)  // any format: the text itself
            default: w.value(try value(of: cell))
            }
        case .integer: w.value(try cell.decode(Int64.self))
        case .double: w.value(try cell.decode(Double.self))
        case .bool: w.value(try cell.decode(Bool.self))
        case .uuid: w.value(try cell.decode(UUID.self))
        case .timestamp: w.value(try cell.decode(Date.self))
        case .json:
            // As `JSONValue`'s decoding reads it: binary jsonb is a version byte (1), then the text.
            var text = bytes
            if cell.dataType == .jsonb, cell.format == .binary, text.readInteger(as: UInt8.self) != 1 {
                return w.value(try cell.decode(JSONValue.self))  // throws the decoding error
            }
            do {
                try w.value(jsonText: text.readBytes(length: text.readableBytes) ?? [])
            } catch {
                w.value(try cell.decode(JSONValue.self))  // throws the decoding error
            }
        case .textArray:
            guard cell.format == .binary, let strings = RowReader.textArray(bytes) else { return w.value(try value(of: cell)) }
            w.beginArray()
            for string in strings { w.value(string) }
            w.endArray()
        case .date, .integerArray, .doubleArray, .boolArray, .uuidArray:
            w.value(try value(of: cell))
        }
    }
}

extension JSONColumnKind {
    /// ``write(_:to:)-(PostgresCell,_)`` of a cell read in place: the same text, written
    /// from the cell's bytes where the in-place writer reads the type, otherwise from the
    /// row's `PostgresCell` for it.
    func write(_ cell: UnsafeCell, of row: SQLRow, to w: inout JSONWriter) throws {
        if !write(cell, to: &w) { try write(try row.cell(at: cell.index), to: &w) }
    }

    /// Writes the cell from its bytes as ``write(_:to:)-(PostgresCell,_)`` writes it, if
    /// its type and size are those this reads (each as postgres-nio's decoding accepts
    /// them); false, with nothing written, otherwise.
    func write(_ cell: UnsafeCell, to w: inout JSONWriter) -> Bool {
        guard let bytes = cell.bytes else {
            w.null()
            return true
        }
        switch (self, cell.type, bytes.count) {
        case (.text, .text, _), (.text, .varchar, _), (.text, .bpchar, _), (.text, .name, _):
            w.value(utf8: bytes)
        case (.integer, .int8, 8): w.value(Int64(bigEndian: bytes.loadUnaligned(as: Int64.self)))
        case (.integer, .int4, 4): w.value(Int64(Int32(bigEndian: bytes.loadUnaligned(as: Int32.self))))
        case (.integer, .int2, 2): w.value(Int64(Int16(bigEndian: bytes.loadUnaligned(as: Int16.self))))
        case (.double, .float8, 8): w.value(Double(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))))
        case (.double, .float4, 4): w.value(Double(Float(bitPattern: UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self)))))
        case (.bool, .bool, 1):
            guard let byte = bytes.first, byte <= 1 else { return false }
            w.value(byte == 1)
        case (.uuid, .uuid, 16): w.value(UUID(uuid: bytes.loadUnaligned(as: uuid_t.self)))
        case (.timestamp, .timestamptz, 8), (.timestamp, .timestamp, 8):
            // As postgres-nio decodes it, so the same microseconds round the same way.
            let microseconds = Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
            w.value(Date(timeInterval: Double(microseconds) / 1_000_000, since: Self.postgresEpoch))
        case (.json, .jsonb, _):
            // A version byte (1), then the text.
            guard bytes.first == 1 else { return false }
            let text = UnsafeBufferPointer(rebasing: bytes.assumingMemoryBound(to: UInt8.self)[1...])
            if w.appendValue({ JSONBText.copyCompact(text, into: &$0) }) { return true }
            do { try w.value(jsonText: Array(text)) } catch { return false }
        case (.textArray, _, _):
            return Self.writeTextArray(bytes, to: &w)
        default:
            return false
        }
        return true
    }

    /// 2000-01-01 00:00:00 UTC, from which Postgres counts a timestamp's microseconds.
    static let postgresEpoch = Date(timeIntervalSince1970: 946_684_800)

    /// A binary one-dimensional array of text without NULLs (``RowReader/textArray(_:)``'s
    /// form), written as its strings; false, with nothing written, for any other array.
    private static func writeTextArray(_ bytes: UnsafeRawBufferPointer, to w: inout JSONWriter) -> Bool {
        guard bytes.count >= 12 else { return false }
        func int32(_ offset: Int) -> Int32 { Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)) }
        let (dimensions, flags) = (int32(0), int32(4))
        guard dimensions == 0 || dimensions == 1, flags == 0 else { return false }
        switch PostgresDataType(UInt32(bitPattern: int32(8))) {
        case .text, .varchar, .bpchar, .name: break
        default: return false
        }
        guard dimensions == 1 else {
            w.beginArray()
            w.endArray()
            return true
        }
        guard bytes.count >= 20, int32(12) > 0, int32(16) == 1 else { return false }
        // Every element's bounds first, so that a malformed array writes nothing.
        let count = Int(int32(12))
        var offset = 20
        for _ in 0..<count {
            guard offset + 4 <= bytes.count else { return false }
            let length = Int(int32(offset))
            guard length >= 0, length <= bytes.count - offset - 4 else { return false }
            offset += 4 + length
        }
        w.beginArray()
        offset = 20
        for _ in 0..<count {
            let length = Int(int32(offset))
            w.value(utf8: UnsafeRawBufferPointer(rebasing: bytes[offset + 4..<offset + 4 + length]))
            offset += 4 + length
        }
        w.endArray()
        return true
    }
}

/// A resource's column projections, each made once per set of columns: GraphQL asks for the
/// same few sets on every request, and making one (its select list, its rendered member
/// names) cost 4% of a one-object query's CPU (Benchmarks/README.md). At most ``limit``
/// sets are kept (a client choosing fields cannot grow the table without bound); any other
/// set is made per call, as before.
final class ColumnProjections: Sendable {
    static let limit = 256

    let descriptor: ResourceDescriptor
    private let indexByName: [String: Int]
    private let made = Mutex<[UInt64: ColumnProjection]>([:])

    init(_ descriptor: ResourceDescriptor) {
        self.descriptor = descriptor
        indexByName = Dictionary(descriptor.columns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// How many sets are kept.
    var count: Int { made.withLock { $0.count } }

    /// ``ColumnProjection/init(_:columns:)`` of `names` (REST names; unknown ones ignored).
    func projection(_ names: [String]) -> ColumnProjection {
        guard descriptor.columns.count <= UInt64.bitWidth else { return ColumnProjection(descriptor, columns: Set(names)) }
        var mask: UInt64 = 0
        for name in names {
            if let index = indexByName[name] { mask |= 1 << UInt64(index) }
        }
        if let made = made.withLock({ $0[mask] }) { return made }
        let projection = ColumnProjection(descriptor, columns: Set(names))
        made.withLock { table in
            if table.count < Self.limit { table[mask] = projection }
        }
        return projection
    }
}
