import NIOCore
import PostgresNIO

/// A statement's parameters as the `Bind` message carries them: each value's length and
/// bytes, and its type (declared when the statement is parsed). Values are encoded by
/// postgres-nio's `PostgresEncodable` conformances, so a value means the same here as through
/// `PostgresClient` (``postgresBindings`` hands them to it). Every value is binary.
public struct SQLBindings: Sendable {
    var bytes: ByteBuffer
    public private(set) var types: [PostgresDataType] = []
    var formats: [PostgresFormat] = []

    public init(capacity: Int = 4) {
        bytes = ByteBuffer()
        bytes.reserveCapacity(capacity * 20)
        types.reserveCapacity(capacity)
        formats.reserveCapacity(capacity)
    }

    public var count: Int { types.count }

    public mutating func append<Value: PostgresEncodable>(_ value: Value) throws {
        let start = bytes.writerIndex
        bytes.writeInteger(Int32(0))
        try value.encode(into: &bytes, context: .default)
        bytes.setInteger(Int32(bytes.writerIndex - start - 4), at: start)
        types.append(Value.psqlType)
        formats.append(Value.psqlFormat)
    }

    public mutating func append<Value: PostgresNonThrowingEncodable>(_ value: Value) {
        let start = bytes.writerIndex
        bytes.writeInteger(Int32(0))
        value.encode(into: &bytes, context: .default)
        bytes.setInteger(Int32(bytes.writerIndex - start - 4), at: start)
        types.append(Value.psqlType)
        formats.append(Value.psqlFormat)
    }

    /// The same values for postgres-nio (a transaction's statements).
    public var postgresBindings: PostgresBindings {
        var bindings = PostgresBindings(capacity: types.count)
        var values = bytes
        for type in types {
            guard let length: Int32 = values.readInteger() else { break }
            let value = length < 0 ? nil : values.readSlice(length: Int(length))
            bindings.append(PostgresData(type: type, formatCode: .binary, value: value))
        }
        return bindings
    }

    /// SQL `NULL`, declared as `type`.
    public mutating func appendNull(as type: PostgresDataType) {
        bytes.writeInteger(Int32(-1))
        types.append(type)
        formats.append(.binary)
    }
}
