import NIOCore
import PostgresNIO
import TrellisPostgres

/// Reads a row's columns in order, each with its concrete type: what generated models'
/// `init(row:)` use. Inlinable, so each read is specialized in the generated code for its
/// type; decoding a whole row as one tuple went through the generic parameter-pack path,
/// looking up type metadata for every column of every row (a fifth of a 20-row list's CPU).
public struct RowReader {
    @usableFromInline var cells: SQLRow.Iterator

    @inlinable
    public init(_ row: SQLRow) {
        cells = row.makeIterator()
    }

    /// The next column as `type`; a row with fewer columns than the model is an error.
    @inlinable
    public mutating func next<T: PostgresDecodable>(_ type: T.Type) throws -> T {
        guard let cell = cells.next() else { throw RowReaderError.missingColumn }
        return try cell.decode(T.self)
    }
}

extension RowReader {
    /// The next column, a `text[]`, as `[String]`. Read here rather than by postgres-nio's
    /// `Array` decoding, which is generic code that is not inlinable: it looked up type
    /// metadata for every element and called `String`'s decoding through a witness table
    /// (an eighth of the time spent decoding a list page of agents, whose `tags` are one).
    /// Anything but a well-formed binary array of text-like elements is left to postgres-nio,
    /// so errors and other element types are decoded exactly as before.
    @inlinable
    public mutating func next(_ type: [String].Type) throws -> [String] {
        guard let cell = cells.next() else { throw RowReaderError.missingColumn }
        if let bytes = cell.bytes, cell.format == .binary, let strings = Self.textArray(bytes) { return strings }
        return try cell.decode([String].self)
    }

    /// The next column, a nullable `text[]`; see ``next(_:)-[String].Type``.
    @inlinable
    public mutating func next(_ type: [String]?.Type) throws -> [String]? {
        guard let cell = cells.next() else { throw RowReaderError.missingColumn }
        guard let bytes = cell.bytes else { return nil }
        if cell.format == .binary, let strings = Self.textArray(bytes) { return strings }
        return try cell.decode([String]?.self)
    }

    /// A binary one-dimensional array without NULLs whose elements are `text`, `varchar`,
    /// `bpchar` or `name`, read as postgres-nio reads it; nil for anything else.
    @usableFromInline
    static func textArray(_ bytes: ByteBuffer) -> [String]? {
        var buffer = bytes
        // Dimensions (0 or 1), the has-NULLs flag, the element type.
        guard let (dimensions, flags, element) = buffer.readMultipleIntegers(endianness: .big, as: (Int32, Int32, UInt32).self),
            dimensions == 0 || dimensions == 1, flags == 0
        else { return nil }
        switch PostgresDataType(element) {
        case .text, .varchar, .bpchar, .name: break
        default: return nil
        }
        guard dimensions == 1 else { return [] }
        guard let (count, lowerBound) = buffer.readMultipleIntegers(endianness: .big, as: (Int32, Int32).self),
            count > 0, lowerBound == 1
        else { return nil }
        var strings: [String] = []
        strings.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = buffer.readInteger(as: Int32.self), length >= 0,
                let string = buffer.readString(length: Int(length))
            else { return nil }
            strings.append(string)
        }
        return strings
    }
}

/// A row had fewer columns than the model that reads it.
public enum RowReaderError: Error {
    case missingColumn
}
