import NIOCore
import PostgresNIO

/// `jsonb` in and out of Postgres without `Codable`: binary jsonb is a version byte (1)
/// followed by JSON text.
extension JSONValue: PostgresNonThrowingEncodable, PostgresDecodable {
    public static var psqlType: PostgresDataType { .jsonb }
    public static var psqlFormat: PostgresFormat { .binary }

    public func encode<E: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<E>) {
        var writer = JSONWriter()
        writer.value(self)
        buffer.writeInteger(UInt8(1))
        buffer.writeBytes(writer.bytes)
    }

    public init<D: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<D>
    ) throws {
        if type == .jsonb, format == .binary {
            guard buffer.readInteger(as: UInt8.self) == 1 else { throw PostgresDecodingError.Code.failure }
        }
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        do {
            self = try JSONParser.parse(bytes)
        } catch {
            throw PostgresDecodingError.Code.failure
        }
    }
}
