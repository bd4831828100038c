import NIOCore
import PostgresNIO

/// A generated `enum` field type: a closed set of strings, stored as `text` with a CHECK.
public protocol SchemaEnum: RawRepresentable<String>, CaseIterable, Hashable, Sendable, JSONWritable,
    PostgresNonThrowingEncodable, PostgresDecodable
{}

extension SchemaEnum {
    public func writeJSON(to writer: inout JSONWriter) { writer.value(rawValue) }

    public static var psqlType: PostgresDataType { .text }
    public static var psqlFormat: PostgresFormat { .binary }

    public func encode<E: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<E>) {
        buffer.writeString(rawValue)
    }

    /// Inlinable, so that it is specialized for each generated enum rather than run as generic code.
    @inlinable
    public init<D: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<D>
    ) throws {
        guard let text = buffer.readString(length: buffer.readableBytes), let value = Self(rawValue: text) else {
            throw PostgresDecodingError.Code.failure
        }
        self = value
    }
}

extension SchemaEnum {
    /// Decodes a `text[]` column of enum values; an unknown value is a decoding failure.
    public static func decodeArray(_ values: [String]) throws -> [Self] {
        try values.map { value in
            guard let decoded = Self(rawValue: value) else { throw PostgresDecodingError.Code.failure }
            return decoded
        }
    }
}

extension JSONValue {
    /// The elements of a `jsonb` array column.
    public static func elements(of value: JSONValue) throws -> [JSONValue] {
        guard case let .array(elements) = value else { throw PostgresDecodingError.Code.typeMismatch }
        return elements
    }
}
