import PostgresNIO
import Synchronization
import TrellisPostgres

/// What a read selects and how each of its rows becomes an item: the whole model (a `get`,
/// a search), every column written as the object's JSON (REST and JSON-RPC lists) or some
/// of its columns as JSON (``ColumnProjection``, GraphQL). One statement
/// builder serves both, so a read's filters, order and cursors cannot differ between them.
/// A statement may select more after the shape's columns (a list's cursor value, a search's
/// rank); those start at ``width``.
public struct RowShape<Item>: Sendable {
    /// The shape's columns, quoted, for a `SELECT`; the first is `id`.
    let selectList: String
    /// How many columns the shape reads.
    let width: Int
    /// Whether the shape reads every column, in the descriptor's order: a `get` of it runs
    /// the prepared ``ResourceByID``.
    var readsEveryColumn = false
    let decode: @Sendable (SQLRow) throws -> Item
}

extension RowShape where Item == SQLRow {
    /// The rows themselves, `projection`'s columns first: GraphQL writes their cells itself
    /// (``ProjectedCells``), once per level.
    init(rows projection: ColumnProjection) {
        self.init(selectList: projection.selectList, width: projection.columns.count) { $0 }
    }
}

/// One object's JSON, written straight from its row (``ColumnProjection/write(_:to:)``).
public struct WrittenJSON: JSONWritable {
    public let bytes: [UInt8]

    public func writeJSON(to writer: inout JSONWriter) { writer.raw(bytes) }
}

extension RowShape where Item == WrittenJSON {
    /// Each row as the JSON of the object it holds, byte for byte what the model decoded
    /// from it writes.
    public init(written projection: ColumnProjection) {
        let hint = WrittenSizeHint()
        self.init(selectList: projection.selectList, width: projection.columns.count) { row in
            WrittenJSON(bytes: try hint.write(row, projection))
        }
    }
}

/// One object's JSON, written straight from its row, and its version: what a REST or
/// JSON-RPC `get` answers (the version is its entity tag), without building the model.
public struct WrittenObject: Sendable {
    public let bytes: [UInt8]
    public let version: Int64
}

extension RowShape where Item == WrittenObject {
    /// Every column of `descriptor`'s rows written as the object's JSON, as
    /// ``init(written:)``, with the `version` column read too.
    init(writtenObjects descriptor: ResourceDescriptor) {
        let projection = ColumnProjection(all: descriptor)
        guard let version = projection.columns.firstIndex(where: { $0.name == "version" }) else {
            preconditionFailure("every resource has a version column")
        }
        let hint = WrittenSizeHint()
        self.init(selectList: projection.selectList, width: projection.columns.count, readsEveryColumn: true) { row in
            WrittenObject(bytes: try hint.write(row, projection), version: try row.cell(at: version).decode(Int64.self))
        }
    }
}

/// The last object's size: room reserved for the next one, shared by a shape's requests, so relaxed.
private final class WrittenSizeHint: Sendable {
    private let value = Atomic<Int>(1024)

    /// `row` written by `projection`, into room for the last object's size.
    func write(_ row: SQLRow, _ projection: ColumnProjection) throws -> [UInt8] {
        var w = JSONWriter(capacity: value.load(ordering: .relaxed))
        try projection.write(row, to: &w)
        // One very large object sets no precedent.
        value.store(min(w.bytes.count + 64, 64 << 10), ordering: .relaxed)
        return w.bytes
    }
}

extension RowShape {
    /// A search's rows: each item with the rank the statement selects after the cursor value.
    func ranked<Hit>(_ hit: @escaping @Sendable (Item, Double) -> Hit) -> RowShape<Hit> {
        let (decode, width) = (self.decode, self.width)
        return RowShape<Hit>(selectList: selectList, width: width) { row in
            hit(try decode(row), try row.cell(at: width + 1).decode(Double.self))
        }
    }
}

extension ResourceService {
    /// Every column, decoded as the model.
    var modelShape: RowShape<R> {
        RowShape(selectList: d.selectList, width: d.columns.count, readsEveryColumn: true) { try R(row: $0) }
    }
}
