/// One reply from Redis, as RESP2 defines it.
///
/// Bulk strings keep their bytes as they came (Redis values are binary-safe); use ``string`` for
/// text. A server error reply (`-ERR …`) is a value here; ``RedisClient/send(_:timeout:)`` turns it
/// into a thrown ``RedisError/server(_:)``, while ``RedisClient/pipeline(_:timeout:)`` returns it
/// in place so one failed command does not hide the replies of the others.
public enum RedisValue: Sendable, Hashable {
    /// `+OK`: a status reply.
    case simpleString(String)
    /// `-ERR message`: the server refused the command.
    case error(String)
    /// `:42`
    case integer(Int64)
    /// `$3\r\nfoo`: binary-safe bytes.
    case bulkString([UInt8])
    /// `$-1` or `*-1`: a missing key or a timed-out blocking pop.
    case null
    /// `*2\r\n…`: nested replies (hiredis reads at most 8 levels deep).
    case array([RedisValue])
}

extension RedisValue {
    /// The text of a simple or bulk string (bytes that are not UTF-8 are replaced with U+FFFD);
    /// nil for any other kind.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The bytes of a bulk or simple string; nil for any other kind.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): bytes
        case .simpleString(let text): Array(text.utf8)
        default: nil
        }
    }

    /// An integer reply, or a string reply that holds a decimal integer (`GET` of a counter).
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .simpleString, .bulkString: string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// The elements of an array reply; nil for any other kind.
    public var array: [RedisValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// True for a null bulk string or null array.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The message of an error reply; nil for any other kind.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}
