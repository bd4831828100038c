import PostgresNIO

/// What a read selects and how each of its rows becomes an item: the whole model (REST and
/// JSON-RPC) or some of its columns as JSON (``ColumnProjection``, GraphQL). One statement
/// builder serves both, so a read's filters, order and cursors cannot differ between them.
/// A statement may select more after the shape's columns (a list's cursor value, a search's
/// rank); those start at ``width``.
struct RowShape<Item>: Sendable {
    /// The shape's columns, quoted, for a `SELECT`; the first is `id`.
    let selectList: String
    /// How many columns the shape reads.
    let width: Int
    let decode: @Sendable (PostgresRow) throws -> Item
}

extension RowShape where Item == JSONObject {
    init(_ projection: ColumnProjection) {
        self.init(selectList: projection.selectList, width: projection.columns.count, decode: projection.object)
    }
}

extension RowShape {
    /// A search's rows: each item with the rank the statement selects after the cursor value.
    func ranked<Hit>(_ hit: @escaping @Sendable (Item, Double) -> Hit) -> RowShape<Hit> {
        let (decode, width) = (self.decode, self.width)
        return RowShape<Hit>(selectList: selectList, width: width) { row in
            hit(try decode(row), try row.makeRandomAccess()[width + 1].decode(Double.self))
        }
    }
}

extension ResourceService {
    /// Every column, decoded as the model.
    var modelShape: RowShape<R> {
        RowShape(selectList: d.selectList, width: d.columns.count) { try R(row: $0) }
    }
}
