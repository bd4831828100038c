import NIOCore
import PostgresNIO

/// The columns of a statement's rows: names and types, read once per connection and
/// statement from its `RowDescription`, shared by every row it returns. Every column is
/// asked for in binary.
public final class PipelineColumns: Sendable {
    public let names: [String]
    public let types: [PostgresDataType]

    init(names: [String], types: [PostgresDataType]) {
        self.names = names
        self.types = types
    }

    static let none = PipelineColumns(names: [], types: [])

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

/// One row of a pipelined statement's answer: its `DataRow` bytes, read cell by cell as
/// postgres-nio's `PostgresCell`s, so every `PostgresDecodable` type decodes it.
public struct PipelineRow: Sendable, Sequence {
    public let columns: PipelineColumns
    /// The `DataRow` body after its column count: each cell's length (-1: NULL) and bytes.
    let data: ByteBuffer

    init(columns: PipelineColumns, data: ByteBuffer) {
        self.columns = columns
        self.data = data
    }

    public var count: Int { columns.names.count }

    public func makeIterator() -> Iterator {
        Iterator(columns: columns, data: data)
    }

    public struct Iterator: IteratorProtocol {
        let columns: PipelineColumns
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

    /// The cell at `index`, stepping over the ones before it; nil past the last.
    public func cell(at index: Int) -> PostgresCell? {
        var cells = makeIterator()
        for _ in 0..<index { guard cells.next() != nil else { return nil } }
        return cells.next()
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
        guard let cell = cells.next() else { throw PostgresPipelineError.protocolViolation("a row has fewer columns than asked for") }
        return try cell.decode(T.self)
    }
}
