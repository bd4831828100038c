import NIOCore
import PostgresNIO

/// The columns of a statement's rows: names and types, read once per connection and
/// statement from its `RowDescription` (or from postgres-nio's first row), shared by every
/// row. Every column is in binary.
public final class SQLColumns: Sendable {
    public let names: [String]
    public let types: [PostgresDataType]

    init(names: [String], types: [PostgresDataType]) {
        self.names = names
        self.types = types
    }

    static let none = SQLColumns(names: [], types: [])

    /// A `RowDescription`'s columns; nil if it is malformed.
    convenience init?(rowDescription body: ByteBuffer) {
        var body = body
        guard let count: Int16 = body.readInteger(), count >= 0 else { return nil }
        var names: [String] = []
        var types: [PostgresDataType] = []
        names.reserveCapacity(Int(count))
        types.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let name = body.readNullTerminatedString(),
                let (_, _, type, _, _, _) = body.readMultipleIntegers(as: (UInt32, Int16, UInt32, Int16, Int32, Int16).self)
            else { return nil }
            names.append(name)
            types.append(PostgresDataType(type))
        }
        self.init(names: names, types: types)
    }
}

/// One row of a statement's answer: its `DataRow` bytes, read cell by cell as postgres-nio's
/// `PostgresCell`s, so every `PostgresDecodable` type decodes it. The pipeline's rows are
/// these as they arrived; rows read through postgres-nio (transactions) are copied into them
/// (``rows(from:)``), so the code that reads a resource's rows is one, whichever client ran
/// the statement.
public struct SQLRow: Sendable, Sequence {
    public let columns: SQLColumns
    /// The `DataRow` body after its column count: each cell's length (-1: NULL) and bytes.
    let data: ByteBuffer

    init(columns: SQLColumns, data: ByteBuffer) {
        self.columns = columns
        self.data = data
    }

    public var count: Int { columns.names.count }

    /// postgres-nio's rows as these: their cells' bytes copied into one buffer, the columns
    /// read once from the first row. postgres-nio asks for every column in binary, as the
    /// pipeline does.
    public static func rows(from rows: [PostgresRow]) -> [SQLRow] {
        guard let first = rows.first else { return [] }
        var names: [String] = []
        var types: [PostgresDataType] = []
        for cell in first {
            names.append(cell.columnName)
            types.append(cell.dataType)
        }
        let columns = SQLColumns(names: names, types: types)
        var buffer = ByteBuffer()
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(rows.count)
        for row in rows {
            let start = buffer.writerIndex
            for cell in row {
                if var bytes = cell.bytes {
                    buffer.writeInteger(Int32(bytes.readableBytes))
                    buffer.writeBuffer(&bytes)
                } else {
                    buffer.writeInteger(Int32(-1))
                }
            }
            ranges.append(start..<buffer.writerIndex)
        }
        return ranges.map { SQLRow(columns: columns, data: buffer.getSlice(at: $0.lowerBound, length: $0.count)!) }
    }

    public func makeIterator() -> Iterator {
        Iterator(columns: columns, data: data)
    }

    public struct Iterator: IteratorProtocol {
        let columns: SQLColumns
        var data: ByteBuffer
        var index = 0

        public mutating func next() -> PostgresCell? {
            guard index < columns.types.count, let length: Int32 = data.readInteger() else { return nil }
            let bytes = length < 0 ? nil : data.readSlice(length: Int(length))
            defer { index += 1 }
            return PostgresCell(
                bytes: bytes, dataType: columns.types[index], format: .binary, columnName: columns.names[index], columnIndex: index)
        }
    }

    /// The cell at `index`, reached by stepping over the ones before it (a read of one cell
    /// per row, a list's parent or a search's rank, needs no array of every cell).
    public func cell(at index: Int) throws(SQLRowError) -> PostgresCell {
        var cells = makeIterator()
        for _ in 0..<index { guard cells.next() != nil else { throw .missingColumn(index) } }
        guard let cell = cells.next() else { throw .missingColumn(index) }
        return cell
    }

    /// The row's first cell decoded as `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type) throws -> T {
        var cells = makeIterator()
        return try Self.decodeNext(T.self, from: &cells)
    }

    /// The row's cells decoded as `T...`, in order.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws -> (repeat each T) {
        var cells = makeIterator()
        return (repeat try Self.decodeNext((each T).self, from: &cells))
    }

    private static func decodeNext<T: PostgresDecodable>(_ type: T.Type, from cells: inout Iterator) throws -> T {
        guard let cell = cells.next() else { throw SQLRowError.missingColumn(cells.index) }
        return try cell.decode(T.self)
    }
}

extension SQLRow {
    /// Calls `body` with the row's cells as raw bytes, read in place: a reader that writes
    /// each cell straight into a response (a page of objects as JSON) pays for no
    /// `PostgresCell`, no `ByteBuffer` slice and no reference count per cell. The cells are
    /// valid only inside `body`.
    public func withUnsafeCells<Result>(_ body: (inout UnsafeCells) throws -> Result) rethrows -> Result {
        try data.withUnsafeReadableBytes { bytes in
            var cells = UnsafeCells(bytes: bytes, types: columns.types)
            return try body(&cells)
        }
    }
}

/// One cell of a ``SQLRow`` read in place (``SQLRow/withUnsafeCells(_:)``): its type and
/// its bytes in binary format, nil for NULL.
public struct UnsafeCell {
    public let index: Int
    public let type: PostgresDataType
    public let bytes: UnsafeRawBufferPointer?
}

/// A ``SQLRow``'s cells in order, read in place.
public struct UnsafeCells {
    let bytes: UnsafeRawBufferPointer
    let types: [PostgresDataType]
    var offset = 0
    var index = 0

    /// The next cell; nil after the last, or where the row's bytes end early.
    public mutating func next() -> UnsafeCell? {
        guard index < types.count, offset + 4 <= bytes.count else { return nil }
        let length = Int(Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
        let start = offset + 4
        guard length <= bytes.count - start else { return nil }
        let cell = UnsafeCell(
            index: index, type: types[index], bytes: length < 0 ? nil : UnsafeRawBufferPointer(rebasing: bytes[start..<start + length]))
        offset = start + max(length, 0)
        index += 1
        return cell
    }
}

/// A row had fewer columns than its reader asked for.
public enum SQLRowError: Error, Equatable {
    case missingColumn(Int)
}
