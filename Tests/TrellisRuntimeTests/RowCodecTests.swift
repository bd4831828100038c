import Crypto
import Foundation
import NIOCore
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// The pieces the `row-codec` benchmark made faster: the writer's 8-byte escape scan, its
/// one-append values, the page body writer, the parser's ASCII strings, `text[]` columns
/// and cursor signing. Each is checked against a plain reference, byte for byte.
@Suite("Row decoding and JSON writing")
struct RowCodecTests {
    /// The JSON text of `utf8` as a string, escaping byte by byte (the writer before the scan).
    static func reference(_ utf8: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20: out += Array(String(format: "\\u%04x", byte).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }

    static func written(_ string: String) -> [UInt8] {
        var w = JSONWriter()
        w.value(string)
        return w.bytes
    }

    static func needsEscape(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x22 || byte == 0x5C }

    // MARK: The escape scan

    @Test("every ASCII byte at every position of strings 1 to 24 bytes long (three 8-byte blocks and tails)")
    func everyByteEveryPosition() {
        var failures: [String] = []
        for length in 1...24 {
            for position in 0..<length {
                for byte in UInt8(0)..<0x80 {
                    var utf8 = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    utf8[position] = byte
                    let string = String(decoding: utf8, as: UTF8.self)
                    if Self.written(string) != Self.reference(utf8) { failures.append("byte \(byte) at \(position) of \(length)") }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }

    @Test("two bytes to escape in one block, in every pair of positions")
    func pairsInABlock() {
        var failures: [String] = []
        let escapes: [UInt8] = [0x22, 0x5C, 0x0A, 0x00, 0x1F, 0x09]
        for length in [8, 9, 16, 17] {
            for first in 0..<length {
                for second in first..<length {
                    for a in escapes {
                        for b in escapes {
                            var utf8 = [UInt8](repeating: UInt8(ascii: "z"), count: length)
                            utf8[first] = a
                            utf8[second] = b
                            let string = String(decoding: utf8, as: UTF8.self)
                            if Self.written(string) != Self.reference(utf8) { failures.append("\(a)@\(first) \(b)@\(second) of \(length)") }
                        }
                    }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }

    @Test("multi-byte UTF-8 is copied untouched, before, around and after escapes")
    func multiByteUTF8() {
        let pieces = ["é", "日本", "😀", "\u{2028}", "\u{7F}", "ﬀ", "a"]
        let escapes = ["\"", "\\", "\n", "\u{1}", ""]
        var failures: [String] = []
        for prefix in 0..<10 {
            for piece in pieces {
                for escape in escapes {
                    for suffix in 0..<10 {
                        let string = String(repeating: "x", count: prefix) + piece + escape + piece + String(repeating: "y", count: suffix)
                        if Self.written(string) != Self.reference(Array(string.utf8)) { failures.append(string.debugDescription) }
                    }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
        #expect(Self.written("😀\"日本\"") == Array(#""😀\"日本\"""#.utf8))
    }

    @Test("escapeMask flags exactly the first byte to escape, whatever the bytes around it")
    func escapeMaskFirstByte() {
        // Bytes next to the thresholds and beyond ASCII, none of which needs an escape.
        let fillers: [UInt8] = [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xA0, 0xA2, 0xDC, 0xFF, 0x61]
        let needles = (UInt8(0)...UInt8(0xFF)).filter(Self.needsEscape)
        var failures: [String] = []
        for filler in fillers {
            let plain = UInt64(filler) &* 0x0101_0101_0101_0101
            if JSONWriter.escapeMask(plain) != 0 { failures.append("filler \(filler) flagged") }
            for needle in needles {
                for position in 0..<8 {
                    for later in [UInt8(0), 0x22, 0x5C, 0x01] {
                        var bytes = [UInt8](repeating: filler, count: 8)
                        bytes[position] = needle
                        if position < 7 { bytes[7] = later == 0 ? filler : later }
                        let word = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
                        let mask = JSONWriter.escapeMask(word)
                        if mask == 0 || mask.trailingZeroBitCount / 8 != position {
                            failures.append("needle \(needle) at \(position) in \(filler), then \(later)")
                        }
                    }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }

    // MARK: One append per value

    @Test("strings around the 64-byte short-string limit, as values, keys and array elements")
    func shortStringLimit() throws {
        for length in 56...72 {
            for escape in [nil, "\"", "\n"] as [String?] {
                var text = String(repeating: "k", count: length)
                if let escape { text.replaceSubrange(text.index(text.startIndex, offsetBy: length / 2)...text.index(text.startIndex, offsetBy: length / 2), with: escape) }
                var w = JSONWriter()
                w.beginObject()
                w.key(text); w.value(text)
                w.key("list"); w.value([text, text])
                w.key(text); w.null()
                w.endObject()
                let quoted = String(decoding: Self.reference(Array(text.utf8)), as: UTF8.self)
                #expect(w.string == "{\(quoted):\(quoted),\"list\":[\(quoted),\(quoted)],\(quoted):null}")
                #expect(try JSONValue(parsing: w.bytes) != .null)
            }
        }
        #expect(Self.written("") == Array(#""""#.utf8))
    }

    @Test("dates are written as RFC3339.format writes them, edges included")
    func dates() {
        let dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1.5), Date(timeIntervalSince1970: -1.25),
            Date(timeIntervalSince1970: 1_798_000_000.999_999_7), Date(timeIntervalSince1970: -62_167_219_200),
            Date(timeIntervalSince1970: -210_866_803_200), Date(timeIntervalSince1970: 9_224_318_015_999),
            Date(timeIntervalSince1970: 1e13), Date(timeIntervalSince1970: -1e13), .distantFuture, .distantPast,
            Date(timeIntervalSince1970: .infinity),
        ]
        for date in dates {
            var w = JSONWriter()
            w.beginArray()
            w.value(date)
            w.value(date)
            w.endArray()
            let text = "\"" + RFC3339.format(date) + "\""
            #expect(w.string == "[\(text),\(text)]", "\(date.timeIntervalSince1970)")
        }
        #expect(RFC3339.format(Date(timeIntervalSince1970: -210_866_803_200)).utf8.count <= RFC3339.maximumLength)
        #expect(RFC3339.format(Date(timeIntervalSince1970: 9_224_318_015_999)).utf8.count <= RFC3339.maximumLength)
    }

    @Test("byteBuffer holds exactly the bytes written")
    func byteBuffer() {
        var w = JSONWriter(capacity: 4)
        w.value(JSONValue.object(JSONObject(["a": .array([.integer(-1), .double(0.25), .bool(true), .null, .string("\u{0}")])])))
        #expect(Array(w.byteBuffer.readableBytesView) == w.bytes)
        #expect(w.string == #"{"a":[-1,0.25,true,null,"\u0000"]}"#)
    }

    // MARK: Page bodies

    @Test("a page writes its envelope; reopening an object adds members after its last")
    func pageEnvelope() {
        var w = JSONWriter()
        Page(items: ["a", "b\""], nextCursor: "c.d").writeJSON(to: &w)
        #expect(w.string == #"{"data":["a","b\""],"next_cursor":"c.d","has_more":true}"#)
        var empty = JSONWriter()
        Page<String>(items: [], nextCursor: nil).writeJSON(to: &empty)
        #expect(empty.string == #"{"data":[],"next_cursor":null,"has_more":false}"#)

        var object = JSONWriter()
        object.beginArray()
        for members in [[], ["x"]] {
            object.beginObject()
            for member in members { object.key(member); object.value(Int64(1)) }
            object.endObject()
            object.reopenObject()
            object.key("rank")
            object.value(0.5)
            object.endObject()
        }
        object.endArray()
        #expect(object.string == #"[{"rank":0.5},{"x":1,"rank":0.5}]"#)
    }

    @Test("PageBodyWriter's bodies are the pages' JSON, whatever size the previous body was")
    func pageBodies() {
        let writer = PageBodyWriter()
        let long = String(repeating: "long text \"quoted\"\n", count: 40)
        for count in [0, 1, 50, 3, 100, 0, 7] {
            let page = Page(items: (0..<count).map { $0 % 2 == 0 ? long : "short \($0)" }, nextCursor: count == 3 ? "next" : nil)
            var w = JSONWriter()
            page.writeJSON(to: &w)
            let body = writer.body(page)
            #expect(Array(body.readableBytesView) == w.bytes, "\(count) items")
        }
    }

    // MARK: Parsing strings

    @Test("the parser's ASCII strings and the others read as before; invalid UTF-8 is still refused")
    func parserStrings() throws {
        let long = String(repeating: "plain ascii ", count: 30)
        #expect(try JSONValue(parsing: "\"\(long)\"") == .string(long))
        #expect(try JSONValue(parsing: #"{"k":"v","é":"日本","e":"a\"b"}"#)
            == .object(JSONObject(["k": .string("v"), "é": .string("日本"), "e": .string("a\"b")])))
        for bytes: [UInt8] in [[0x22, 0x61, 0xC3, 0x22], [0x22, 0xFF, 0x22], [0x22, 0x61, 0x62, 0xED, 0xA0, 0x80, 0x22]] {
            #expect(throws: JSONParseError.self) { try JSONValue(parsing: bytes) }
        }
    }

    // MARK: text[] columns

    /// A binary `text[]` value as Postgres sends it.
    static func textArray(_ strings: [String], elementType: UInt32 = 25, flags: Int32 = 0, lowerBound: Int32 = 1) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(strings.isEmpty ? 0 : 1))
        buffer.writeInteger(flags)
        buffer.writeInteger(elementType)
        guard !strings.isEmpty else { return buffer }
        buffer.writeInteger(Int32(strings.count))
        buffer.writeInteger(lowerBound)
        for string in strings {
            buffer.writeInteger(Int32(string.utf8.count))
            buffer.writeString(string)
        }
        return buffer
    }

    @Test("text[] values read by RowReader equal postgres-nio's decoding; anything else is left to it")
    func textArrays() throws {
        for strings in [[], ["a"], ["", "tags", "naïve café", "😀", String(repeating: "x", count: 300)]] {
            for elementType: UInt32 in [25, 1043, 1042, 19] {
                let buffer = Self.textArray(strings, elementType: elementType)
                var copy = buffer
                let expected = try [String](from: &copy, type: .textArray, format: .binary, context: .default)
                #expect(RowReader.textArray(buffer) == expected)
                #expect(expected == strings)
            }
        }
        #expect(RowReader.textArray(Self.textArray(["a"], elementType: 23)) == nil)  // int4[]
        #expect(RowReader.textArray(Self.textArray(["a"], flags: 1)) == nil)  // has NULLs
        #expect(RowReader.textArray(Self.textArray(["a"], lowerBound: 0)) == nil)
        var truncated = Self.textArray(["abc", "def"])
        truncated.moveWriterIndex(to: truncated.writerIndex - 1)
        #expect(RowReader.textArray(truncated) == nil)
        #expect(RowReader.textArray(ByteBuffer(bytes: [0, 0])) == nil)
    }

    // MARK: Cursor signing

    @Test("cursor tags from the pre-keyed HMAC equal HMAC-SHA256 of the key, every time")
    func cursorTags() throws {
        let key = String(repeating: "k", count: 40)
        let keys = try #require(CursorKeys([key]))
        for payload in [[], Array("{\"s\":\"-created_at\"}".utf8), [UInt8](repeating: 7, count: 200)] {
            let expected = Array(HMAC<SHA256>.authenticationCode(for: payload, using: SymmetricKey(data: Array(key.utf8))))
            #expect(keys.sign(payload) == expected)
            #expect(keys.sign(payload) == expected)
            #expect(keys.verify(expected, for: payload))
        }
    }
}
