import PostgresNIO

/// Reads a row's columns in order, each with its concrete type: what generated models'
/// `init(row:)` use. Inlinable, so each read is specialized in the generated code for its
/// type; decoding a whole row as one tuple went through the generic parameter-pack path,
/// looking up type metadata for every column of every row (a fifth of a 20-row list's CPU).
public struct RowReader {
    @usableFromInline var cells: PostgresRow.Iterator

    @inlinable
    public init(_ row: PostgresRow) {
        cells = row.makeIterator()
    }

    /// The next column as `type`; a row with fewer columns than the model is an error.
    @inlinable
    public mutating func next<T: PostgresDecodable>(_ type: T.Type) throws -> T {
        guard let cell = cells.next() else { throw RowReaderError.missingColumn }
        return try cell.decode(T.self)
    }
}

/// A row had fewer columns than the model that reads it.
public enum RowReaderError: Error {
    case missingColumn
}
