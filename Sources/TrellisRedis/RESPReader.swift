import CHiredis
import NIOCore

/// Incremental RESP2 parser on libhiredis's reader: feed it bytes as they arrive, in any pieces,
/// and take complete replies out in order.
///
/// Not thread-safe: one reader belongs to one connection and is used on its event loop only. It
/// owns the C reader and frees it in `deinit` (the channel handler drops it in `handlerRemoved`).
/// After a protocol error the reader is unusable, as hiredis's is: the connection must be closed.
final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else { fatalError("redisReaderCreate: out of memory") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    /// Appends bytes to the reader's buffer (hiredis copies them).
    func feed(_ buffer: ByteBuffer) throws(RedisError) {
        let status = buffer.withUnsafeReadableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return REDIS_OK }
            return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        if status != REDIS_OK { throw .protocol(errorText()) }
    }

    /// Appends bytes to the reader's buffer.
    func feed(_ bytes: [UInt8]) throws(RedisError) {
        try feed(ByteBuffer(bytes: bytes))
    }

    /// The next complete reply, or nil when the bytes fed so far end inside a reply.
    func next() throws(RedisError) -> RedisValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw .protocol(errorText()) }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.value(of: reply.assumingMemoryBound(to: redisReply.self).pointee)
    }

    private static func value(of reply: redisReply) -> RedisValue {
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulkString(Array(UnsafeRawBufferPointer(start: reply.str, count: reply.len)))
        case REDIS_REPLY_STATUS:
            return .simpleString(text(of: reply))
        case REDIS_REPLY_ERROR:
            return .error(text(of: reply))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(reply.elements)
            for index in 0..<reply.elements {
                elements.append(value(of: reply.element[index]!.pointee))
            }
            return .array(elements)
        default:  // REDIS_REPLY_NIL, for both `$-1` and `*-1`
            return .null
        }
    }

    private static func text(of reply: redisReply) -> String {
        String(decoding: UnsafeRawBufferPointer(start: reply.str, count: reply.len), as: UTF8.self)
    }

    /// hiredis's message (`errstr`, a 128-byte C string in the reader struct).
    private func errorText() -> String {
        withUnsafeBytes(of: reader.pointee.errstr) { bytes in
            let text = bytes.prefix { $0 != 0 }
            return text.isEmpty ? "hiredis reader error \(reader.pointee.err)" : String(decoding: text, as: UTF8.self)
        }
    }
}
