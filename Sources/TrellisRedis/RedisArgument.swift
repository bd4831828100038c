import NIOCore

/// One argument of a Redis command: the command name itself, a key, or a value.
///
/// String literals and interpolations convert implicitly, so a command reads
/// `client.send("SET", "\(key)", .bytes(payload))`.
public enum RedisArgument: Sendable, Hashable {
    /// Text, sent as its UTF-8 bytes.
    case string(String)
    /// Raw bytes.
    case bytes([UInt8])
    /// Raw bytes already in a buffer (sent without another copy into an array).
    case buffer(ByteBuffer)
    /// A decimal integer (`EXPIRE key 60`, `INCRBY key -3`).
    case integer(Int64)
}

extension RedisArgument: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByStringInterpolation {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(stringInterpolation: DefaultStringInterpolation) { self = .string(String(stringInterpolation: stringInterpolation)) }
}

extension ByteBuffer {
    /// Writes one command as a RESP2 array of bulk strings: `*N\r\n` then `$len\r\n<bytes>\r\n` per
    /// argument.
    ///
    /// Written here rather than with hiredis's `redisFormatCommandArgv`: that needs C arrays of
    /// pointers and lengths, mallocs its own buffer and must then be copied into a `ByteBuffer`,
    /// while this writes each argument straight into the buffer the channel sends.
    mutating func writeRESPCommand(_ arguments: [RedisArgument]) {
        writeRESPHeader(UInt8(ascii: "*"), arguments.count)
        for argument in arguments {
            switch argument {
            case .string(let text):
                var text = text
                text.withUTF8 { utf8 in
                    writeRESPHeader(UInt8(ascii: "$"), utf8.count)
                    writeBytes(utf8)
                }
            case .bytes(let bytes):
                writeRESPHeader(UInt8(ascii: "$"), bytes.count)
                writeBytes(bytes)
            case .buffer(let buffer):
                writeRESPHeader(UInt8(ascii: "$"), buffer.readableBytes)
                writeImmutableBuffer(buffer)
            case .integer(let value):
                var digits = String(value)
                digits.withUTF8 { utf8 in
                    writeRESPHeader(UInt8(ascii: "$"), utf8.count)
                    writeBytes(utf8)
                }
            }
            writeStaticString("\r\n")
        }
    }

    private mutating func writeRESPHeader(_ marker: UInt8, _ count: Int) {
        writeInteger(marker)
        writeString(String(count))
        writeStaticString("\r\n")
    }
}
