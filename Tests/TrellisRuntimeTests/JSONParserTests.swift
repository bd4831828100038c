import Foundation
import Testing

@testable import TrellisRuntime

/// The strict RFC 8259 parser: what it accepts, what it rejects, and where it says the problem is.
@Suite("JSON parser")
struct JSONParserTests {
    // MARK: Helpers

    private func parse(_ text: String) throws -> JSONValue {
        try JSONValue(parsing: text)
    }

    /// Parses raw bytes and returns the error, or records an issue when parsing succeeds.
    private func parseError(
        _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) -> JSONParseError? {
        do throws(JSONParseError) {
            let value = try JSONValue(parsing: bytes)
            Issue.record("expected a parse error, got \(value)", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    private func parseError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> JSONParseError? {
        parseError(Array(text.utf8), sourceLocation: sourceLocation)
    }

    // MARK: Accepts

    @Test("scalars and literals")
    func scalars() throws {
        #expect(try parse("null") == .null)
        #expect(try parse("true") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("\"\"") == .string(""))
        #expect(try parse("\"hello\"") == .string("hello"))
        #expect(try parse("0") == .integer(0))
        #expect(try parse("-17") == .integer(-17))
    }

    @Test("whitespace around and between tokens is allowed (space, tab, CR, LF only)")
    func whitespace() throws {
        #expect(try parse(" \t\r\n[ 1 ,\n\t2 ] \r\n") == .array([.integer(1), .integer(2)]))
        #expect(try parse("{ \"a\" : 1 }") == .object(JSONObject(["a": .integer(1)])))
        // Form feed and non-breaking space are not JSON whitespace.
        #expect(parseError("\u{0C}1") != nil)
        #expect(parseError("\u{A0}1") != nil)
    }

    @Test("objects keep members in document order, duplicates included; lookup returns the last")
    func objectOrder() throws {
        let value = try parse(#"{"b":1,"a":2,"c":{"z":true,"y":null},"a":3}"#)
        guard case let .object(object) = value else {
            Issue.record("not an object: \(value)")
            return
        }
        #expect(object.members.map(\.key) == ["b", "a", "c", "a"])
        #expect(object["a"] == .integer(3))
        #expect(object["c"] == .object(JSONObject(["z": .bool(true), "y": .null])))
        #expect(object["missing"] == nil)
        #expect(try parse("{}") == .object(JSONObject()))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("[[],{},[{}]]") == .array([.array([]), .object(JSONObject()), .array([.object(JSONObject())])]))
    }

    @Test("every simple escape decodes")
    func simpleEscapes() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try parse(#""a\nb""#) == .string("a\nb"))
        // Escapes after a long unescaped prefix (the slow path starts mid-string).
        #expect(try parse(#""abcdefgh\tijk""#) == .string("abcdefgh\tijk"))
    }

    @Test("\\u escapes: BMP, NUL, upper and lower case hex")
    func unicodeEscapes() throws {
        #expect(try parse(#""\u00e9""#) == .string("é"))
        #expect(try parse(#""\u00E9""#) == .string("é"))
        #expect(try parse(#""\u0041\u0042""#) == .string("AB"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try parse(#""\u20AC""#) == .string("€"))
        #expect(try parse(#""\uFFFF""#) == .string("\u{FFFF}"))
    }

    @Test("surrogate pairs combine into one scalar")
    func surrogatePairs() throws {
        #expect(try parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try parse(#""\ud834\udd1e""#) == .string("𝄞"))
        #expect(try parse(#""x\uDBFF\uDFFFy""#) == .string("x\u{10FFFF}y"))
        let value = try parse(#""\uD83D\uDE00""#)
        guard case let .string(s) = value else { return }
        #expect(s.unicodeScalars.count == 1)
    }

    @Test("raw UTF-8 passes through, multi-byte and 4-byte sequences included")
    func rawUTF8() throws {
        #expect(try parse("\"héllo wörld — 日本語 😀\"") == .string("héllo wörld — 日本語 😀"))
        #expect(try parse("{\"ключ\":\"значение\"}") == .object(JSONObject(["ключ": .string("значение")])))
        // DEL (0x7F) is not a control character in JSON.
        #expect(try parse("\"\u{7F}\"") == .string("\u{7F}"))
    }

    @Test("integers stay integers; fractions and exponents make doubles")
    func integersVersusDoubles() throws {
        #expect(try parse("42") == .integer(42))
        #expect(try parse("-0") == .integer(0))
        #expect(try parse("1.0") == .double(1.0))
        #expect(try parse("1e2") == .double(100))
        #expect(try parse("1E+2") == .double(100))
        #expect(try parse("25e-1") == .double(2.5))
        #expect(try parse("-0.5") == .double(-0.5))
        #expect(try parse("0.1") == .double(0.1))
    }

    @Test("the Int64 range is exact; beyond it numbers become doubles")
    func bigIntegers() throws {
        #expect(try parse("9223372036854775807") == .integer(Int64.max))
        #expect(try parse("-9223372036854775808") == .integer(Int64.min))
        #expect(try parse("9223372036854775808") == .double(9_223_372_036_854_775_808.0))
        #expect(try parse("-9223372036854775809") == .double(-9_223_372_036_854_775_809.0))
        #expect(try parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
    }

    @Test("very large and very small doubles")
    func extremeDoubles() throws {
        #expect(try parse("1.7976931348623157e308") == .double(Double.greatestFiniteMagnitude))
        #expect(try parse("-1.7976931348623157e308") == .double(-Double.greatestFiniteMagnitude))
        #expect(try parse("5e-324") == .double(Double.leastNonzeroMagnitude))
        #expect(try parse("2.2250738585072014E-308") == .double(Double.leastNormalMagnitude))
        #expect(try parse("1e-400") == .double(0))
        // Out of range numbers are rejected rather than becoming infinity.
        #expect(parseError("1e309") != nil)
        #expect(parseError("-1e400") != nil)
        #expect(parseError("[1e999999]") != nil)
    }

    @Test("nesting up to 128 levels is accepted")
    func maximumDepthAccepted() throws {
        let arrays = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        var value = try parse(arrays)
        var depth = 0
        while case let .array(elements) = value {
            depth += 1
            value = elements.first ?? .null
        }
        #expect(depth == 128)

        let objects = String(repeating: #"{"a":"#, count: 127) + "{}" + String(repeating: "}", count: 127)
        #expect(throws: Never.self) { try parse(objects) }
    }

    // MARK: Rejects

    @Test("depth 129 is rejected, without crashing")
    func depth129Rejected() throws {
        let arrays = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        let error = try #require(parseError(arrays))
        #expect(error.message.contains("nesting"))
        #expect(error.line == 1)
        #expect(error.column == 129)

        let objects = String(repeating: #"{"a":"#, count: 128) + "{}" + String(repeating: "}", count: 128)
        #expect(parseError(objects) != nil)

        let mixed = String(repeating: #"[{"k":"#, count: 65) + "0" + String(repeating: "}]", count: 65)
        #expect(parseError(mixed) != nil)
    }

    @Test("absurdly deep input (100k brackets) fails fast instead of overflowing the stack")
    func hugeDepthRejected() {
        #expect(parseError(String(repeating: "[", count: 100_000)) != nil)
        #expect(parseError(String(repeating: #"{"a":"#, count: 100_000)) != nil)
    }

    @Test("trailing commas are rejected", arguments: ["[1,]", #"{"a":1,}"#, "[1,2,,]", "[,1]", "[1,,2]", "{,}"])
    func trailingCommas(_ text: String) {
        #expect(parseError(text) != nil)
    }

    @Test("leading zeros and other malformed numbers are rejected",
          arguments: ["01", "-01", "00", "007", "+1", ".5", "1.", "1.e3", "1e", "1e+", "-", "--1", "0x10", "1_000",
                      "NaN", "Infinity", "-Infinity", "1.5.2", "[01]"])
    func malformedNumbers(_ text: String) {
        #expect(parseError(text) != nil)
    }

    @Test("invalid escapes are rejected",
          arguments: [#""\a""#, #""\x41""#, #""\u12""#, #""\u12G4""#, #""\U0041""#, #""\'""#, #""\ ""#, #""\0""#])
    func badEscapes(_ text: String) {
        #expect(parseError(text) != nil)
    }

    @Test("unpaired or misordered surrogates are rejected",
          arguments: [#""\uD83D""#, #""\uD83Dx""#, #""\uDE00""#, #""\uDE00\uD83D""#, #""\uD83D\u0041""#,
                      #""\uD83D\uD83D""#, #""\uD83D\n""#, #""\uD83D\""#])
    func unpairedSurrogates(_ text: String) {
        #expect(parseError(text) != nil)
    }

    @Test("raw control characters inside strings are rejected")
    func controlCharacters() throws {
        for byte in UInt8(0)..<0x20 {
            let bytes: [UInt8] = [0x22, 0x61, byte, 0x62, 0x22]
            #expect(parseError(bytes) != nil, "control byte \(byte) was accepted")
            // Also after an escape (the slow path).
            let escaped: [UInt8] = [0x22, 0x5C, 0x6E, byte, 0x22]
            #expect(parseError(escaped) != nil, "control byte \(byte) after an escape was accepted")
        }
        let error = try #require(parseError("\"ab\tc\""))
        #expect(error.message.contains("control character"))
        #expect(error.column == 4)
    }

    @Test("invalid UTF-8 is rejected, in and out of strings")
    func invalidUTF8() {
        let cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22],  // never valid
            [0x22, 0xC3, 0x22],  // truncated 2-byte sequence
            [0x22, 0xC0, 0xAF, 0x22],  // overlong "/"
            [0x22, 0xE0, 0x80, 0xAF, 0x22],  // overlong 3-byte
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8-encoded surrogate U+D800
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0x80, 0x22],  // lone continuation byte
            [0x22, 0x5C, 0x6E, 0xFF, 0x22],  // after an escape
            [0xFF],  // outside a string
            [0x5B, 0xC3, 0xA9, 0x5D],  // "[é]": a non-ASCII byte where a value should be
            [0xEF, 0xBB, 0xBF, 0x31],  // a byte order mark is not allowed
        ]
        for bytes in cases {
            #expect(parseError(bytes) != nil, "accepted \(bytes)")
        }
    }

    @Test("truncated input is rejected",
          arguments: ["", "   ", "[", "[1", "[1,", "{", #"{"a""#, #"{"a":"#, #"{"a":1"#, #"{"a":1,"#, "\"abc", #""abc\"#,
                      #""\u00"#, #""\uD83D\u"#, "tru", "fals", "nul", "-", "1e", "0."])
    func truncated(_ text: String) {
        #expect(parseError(text) != nil)
    }

    @Test("bad literals, non-string keys, missing separators and trailing content are rejected",
          arguments: ["True", "nul l", "nulls", "undefined", "'a'", "{a:1}", "{1:2}", #"{"a" 1}"#, #"{"a":1 "b":2}"#,
                      "[1 2]", "1 2", "{}{}", "[]]", "{\"a\":1}}", "//c\n1", "/*c*/1"])
    func structuralErrors(_ text: String) {
        #expect(parseError(text) != nil)
    }

    // MARK: Error positions

    @Test("line and column: trailing comma in a multi-line object points at the closing brace")
    func positionTrailingCommaMultiline() throws {
        let error = try #require(parseError("{\n  \"a\": 1,\n}"))
        #expect(error.line == 3)
        #expect(error.column == 1)
    }

    @Test("line and column: a bad token on line 3")
    func positionBadToken() throws {
        let error = try #require(parseError("[1,\n 2,\n x]"))
        #expect(error.line == 3)
        #expect(error.column == 2)
        #expect(error.description.hasSuffix("at line 3, column 2"))
    }

    @Test("line and column: a leading zero points at the second digit")
    func positionLeadingZero() throws {
        let error = try #require(parseError(#"{"n": 01}"#))
        #expect(error.line == 1)
        #expect(error.column == 8)
        #expect(error.message.contains("leading zero"))
    }

    @Test("columns count characters, not bytes")
    func positionAfterMultibyte() throws {
        // "é" and "😀" are 2 and 4 bytes but one column each.
        let error = try #require(parseError("[\"é😀\", x]"))
        #expect(error.line == 1)
        #expect(error.column == 8)
    }

    @Test("line and column: trailing content after the value")
    func positionTrailingContent() throws {
        let error = try #require(parseError("{}\n\n  true"))
        #expect(error.line == 3)
        #expect(error.column == 3)
        #expect(error.message.contains("after the JSON value"))
    }

    @Test("parsing accepts any byte collection")
    func byteCollections() throws {
        let text = #"{"a":[1,2.5,"x"]}"#
        let expected = JSONValue.object(JSONObject(["a": .array([.integer(1), .double(2.5), .string("x")])]))
        #expect(try JSONValue(parsing: Array(text.utf8)) == expected)
        #expect(try JSONValue(parsing: Data(text.utf8)) == expected)
        #expect(try JSONValue(parsing: Array(text.utf8)[...]) == expected)
        #expect(try JSONValue(parsing: text) == expected)
    }

    @Test("type names used in messages")
    func typeNames() throws {
        #expect(try parse("null").typeName == "null")
        #expect(try parse("true").typeName == "boolean")
        #expect(try parse("1").typeName == "integer")
        #expect(try parse("1.5").typeName == "number")
        #expect(try parse("\"s\"").typeName == "string")
        #expect(try parse("[]").typeName == "array")
        #expect(try parse("{}").typeName == "object")
    }
}
