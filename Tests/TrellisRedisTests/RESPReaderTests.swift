import NIOCore
import Testing
import TrellisTestSupport

@testable import TrellisRedis

/// The RESP reader (hiredis) and the command encoder, without I/O.
@Suite struct RESPReaderTests {
    private func values(_ text: String) throws -> [RedisValue] {
        let reader = RESPReader()
        try reader.feed(Array(text.utf8))
        var values: [RedisValue] = []
        while let value = try reader.next() { values.append(value) }
        return values
    }

    @Test func everyReplyKind() throws {
        let stream = "+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n$1\r\na\r\n:1\r\n"
        #expect(try values(stream) == [
            .simpleString("OK"), .error("ERR wrong"), .integer(42), .integer(-7),
            .bulkString(Array("hello".utf8)), .bulkString([]), .null, .null, .array([]),
            .array([.bulkString([UInt8(ascii: "a")]), .integer(1)]),
        ])
    }

    @Test func nestedArraysAndBinaryBulkStrings() throws {
        let stream = "*3\r\n*2\r\n+a\r\n*1\r\n:1\r\n$4\r\n\r\n\0\u{1}\r\n$-1\r\n"
        #expect(try values(stream) == [
            .array([
                .array([.simpleString("a"), .array([.integer(1)])]),
                .bulkString([13, 10, 0, 1]),
                .null,
            ]),
        ])
    }

    @Test func bytesFedOneAtATimeGiveTheSameRepliesInOrder() throws {
        let stream = Array("+PONG\r\n*2\r\n$7\r\nmessage\r\n*1\r\n-ERR x\r\n:123456789012\r\n$3\r\nend\r\n".utf8)
        let reader = RESPReader()
        var values: [RedisValue] = []
        for byte in stream {
            try reader.feed([byte])
            while let value = try reader.next() { values.append(value) }
        }
        #expect(values == [
            .simpleString("PONG"),
            .array([.bulkString(Array("message".utf8)), .array([.error("ERR x")])]),
            .integer(123_456_789_012),
            .bulkString(Array("end".utf8)),
        ])
    }

    @Test func anIncompleteReplyIsNotReturned() throws {
        let reader = RESPReader()
        try reader.feed(Array("$10\r\nhello".utf8))
        #expect(try reader.next() == nil)
        try reader.feed(Array("world\r\n".utf8))
        #expect(try reader.next() == .bulkString(Array("helloworld".utf8)))
        #expect(try reader.next() == nil)
    }

    @Test func aProtocolErrorIsThrownAndTheReaderStaysFailed() throws {
        let reader = RESPReader()
        try reader.feed(Array("?what\r\n".utf8))
        #expect {
            try reader.next()
        } throws: { error in
            guard case RedisError.protocol(let message) = error else { return false }
            return message.contains("Protocol error")
        }
        #expect(throws: RedisError.self) { try reader.feed(Array("+OK\r\n".utf8)) }
    }

    @Test func hiredisReadsEightNestedArraysAndRefusesNine() throws {
        var eight = RedisValue.integer(1)
        for _ in 0..<8 { eight = .array([eight]) }
        #expect(try values(String(repeating: "*1\r\n", count: 8) + ":1\r\n") == [eight])
        #expect(throws: RedisError.self) { try values(String(repeating: "*1\r\n", count: 9) + ":1\r\n") }
    }

    @Test func commandsAreEncodedAsArraysOfBulkStrings() throws {
        var buffer = ByteBuffer()
        buffer.writeRESPCommand(["SET", "k\u{e9}y", .bytes([0, 13, 10]), .integer(-12), .buffer(ByteBuffer(string: "xy"))])
        #expect(String(buffer: buffer) == "*5\r\n$3\r\nSET\r\n$4\r\nk\u{e9}y\r\n$3\r\n\0\r\n\r\n$3\r\n-12\r\n$2\r\nxy\r\n")
        // And the reader reads it back: a command is itself a RESP array.
        let reader = RESPReader()
        try reader.feed(buffer)
        #expect(try reader.next() == .array([
            .bulkString(Array("SET".utf8)), .bulkString(Array("k\u{e9}y".utf8)), .bulkString([0, 13, 10]),
            .bulkString(Array("-12".utf8)), .bulkString(Array("xy".utf8)),
        ]))
    }

    @Test func valueAccessors() {
        #expect(RedisValue.bulkString(Array("12".utf8)).int == 12)
        #expect(RedisValue.integer(3).int == 3)
        #expect(RedisValue.simpleString("OK").string == "OK")
        #expect(RedisValue.null.isNull)
        #expect(RedisValue.null.string == nil)
        #expect(RedisValue.error("ERR x").errorMessage == "ERR x")
        #expect(RedisValue.array([.integer(1)]).array == [.integer(1)])
    }

    @Test func pubSubPushMessagesAreRecognised() {
        let message = RedisValue.array([.bulkString(Array("message".utf8)), .bulkString(Array("c".utf8)), .bulkString([1, 2])])
        let pmessage = RedisValue.array([.bulkString(Array("pmessage".utf8)), .bulkString(Array("c*".utf8)), .bulkString(Array("c1".utf8)), .bulkString([3])])
        let confirmation = RedisValue.array([.bulkString(Array("subscribe".utf8)), .bulkString(Array("c".utf8)), .integer(1)])
        #expect(RedisChannelHandler.isPushMessage(message))
        #expect(RedisChannelHandler.isPushMessage(pmessage))
        #expect(!RedisChannelHandler.isPushMessage(confirmation))
        #expect(RedisPubSubMessage(push: message) == RedisPubSubMessage(channel: "c", payload: [1, 2]))
        #expect(RedisPubSubMessage(push: pmessage) == RedisPubSubMessage(channel: "c1", pattern: "c*", payload: [3]))
        #expect(RedisPubSubMessage(push: confirmation) == nil)
    }

    @Test func scriptHashIsTheSHA1OfTheSource() {
        #expect(RedisScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}
