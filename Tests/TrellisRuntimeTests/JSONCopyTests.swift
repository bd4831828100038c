import Foundation
import Testing

@testable import TrellisRuntime

/// ``JSONParser/copy(_:to:)`` writes JSON text as the parse and the writer together would,
/// without building the value: a `jsonb` column on its way from a row to a response.
@Suite("JSON text copied as parsed and written")
struct JSONCopyTests {
    /// What copying must equal: nil when the parse rejects the text, else the writer's bytes.
    static func parsedAndWritten(_ bytes: [UInt8]) -> [UInt8]? {
        guard let value = try? JSONParser.parse(bytes) else { return nil }
        var w = JSONWriter()
        w.value(value)
        return w.bytes
    }

    static func copied(_ bytes: [UInt8]) -> [UInt8]? {
        var w = JSONWriter()
        do throws(JSONParseError) {
            try w.value(jsonText: bytes)
        } catch {
            #expect(w.bytes.isEmpty, "a failed copy wrote \(w.string)")
            return nil
        }
        return w.bytes
    }

    @Test("copying accepts what the parse accepts and writes what the writer writes", arguments: [
        "{}", "[]", "0", "-0", "1.0", "1e3", "1E+2", "-1.5e-3", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "1e400", "0.1", "123456789012345678", "true", "false", "null", #""""#,
        #"{"a": 1, "b": [1, 2.5, "x", null], "c": {"d": {}}}"#, #"{"a":1,"a":2}"#, "  [ 1 ,\t2 ]\r\n ",
        #""caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t \u0001""#, #"{"k\"ey": "v"}"#, #"{"é": "ü", "😀": "€"}"#,
        // Rejected: each must be rejected by the copy as well, with nothing written.
        "[1,]", #"{"a":1,}"#, "01", "1.", "+1", "NaN", #""\a""#, #""\uD83D""#, "\"a\tb\"", "[", #"{"a""#,
        "tru", "1 2", "{a:1}", "{1:2}", "[1 2]", "{}{}", #"{"a" 1}"#, "", "   ", #""abc"#,
    ])
    func matchesTheParseAndTheWriter(text: String) {
        let bytes = Array(text.utf8)
        #expect(Self.copied(bytes) == Self.parsedAndWritten(bytes), "\(text)")
    }

    @Test("bytes that are not UTF-8, raw control bytes and deep nesting are rejected as the parse rejects them")
    func rejectsWhatTheParseRejects() {
        var cases: [[UInt8]] = [
            [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D],
            [0x22, 0x5C, 0x6E, 0xFF, 0x22], [0xFF], [0xEF, 0xBB, 0xBF, 0x31],
            Array(String(repeating: "[", count: 129).utf8) + Array(String(repeating: "]", count: 129).utf8),
            Array(String(repeating: "[", count: 128).utf8) + Array(String(repeating: "]", count: 128).utf8),
            Array(String(repeating: "[", count: 100_000).utf8),
        ]
        for byte in UInt8(0)..<0x20 { cases.append([0x22, 0x61, byte, 0x22]) }
        for bytes in cases {
            #expect(Self.copied(bytes) == Self.parsedAndWritten(bytes), "\(bytes.prefix(12))")
        }
    }

    @Test("random documents, spaced as Postgres prints jsonb or packed, copy as they parse and write")
    func randomDocuments() {
        var generator = SeededGenerator(seed: 29)
        for round in 0..<2_000 {
            let value = Self.randomValue(depth: 0, using: &generator)
            let text = Self.text(value, spaced: round % 2 == 0, using: &generator)
            let bytes = Array(text.utf8)
            let expected = Self.parsedAndWritten(bytes)
            #expect(expected != nil, "\(text)")
            #expect(Self.copied(bytes) == expected, "\(text)")
        }
    }

    // MARK: jsonb text, copied compactly (JSONBText)

    /// ``JSONBText/copyCompact(_:into:)`` of `text`: nil if it declines.
    static func compacted(_ bytes: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        let accepted = bytes.withUnsafeBufferPointer { JSONBText.copyCompact($0, into: &out) }
        return accepted ? out : nil
    }

    @Test("jsonb's text copied compactly is what the parse and the writer give, whenever the copy accepts it")
    func compactCopiesMatchTheParseAndTheWriter() {
        var generator = SeededGenerator(seed: 31)
        var accepted = 0
        for round in 0..<4_000 {
            let value = Self.randomValue(depth: 0, using: &generator)
            let bytes = Array(Self.text(value, spaced: round % 4 != 0, using: &generator).utf8)
            guard let compact = Self.compacted(bytes) else { continue }
            accepted += 1
            #expect(compact == Self.parsedAndWritten(bytes), "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(accepted > 200, "the compact copy declined nearly everything (\(accepted) of 4000)")
    }

    @Test("numbers: the compact copy keeps only texts the writer writes back unchanged")
    func compactNumbersAreThoseTheWriterWritesUnchanged() {
        var generator = SeededGenerator(seed: 37)
        let digits = Array("0123456789")
        var accepted = 0
        for _ in 0..<200_000 {
            var text = Bool.random(using: &generator) ? "-" : ""
            let integerDigits = Int.random(in: 0...19, using: &generator)
            text += integerDigits == 0 ? "0" : String((0..<integerDigits).map { _ in digits.randomElement(using: &generator)! })
            if Bool.random(using: &generator) {
                text += "." + String((0..<Int.random(in: 1...18, using: &generator)).map { _ in digits.randomElement(using: &generator)! })
            }
            if Int.random(in: 0..<10, using: &generator) == 0 { text += "e" + String(Int.random(in: -20...20, using: &generator)) }
            let bytes = Array(text.utf8)
            guard let compact = Self.compacted(bytes) else { continue }
            accepted += 1
            #expect(compact == Self.parsedAndWritten(bytes), "\(text)")
        }
        #expect(accepted > 20_000)
        for text in ["0.5", "0.67", "-0.0001", "2048", "-17", "0", "12345678901234.1", "0.123456789012345"] {
            #expect(Self.compacted(Array(text.utf8)) == Array(text.utf8), "\(text) is kept as it is")
        }
        for text in ["-0", "1.50", "1.0", "0.00001", "1e3", "1234567890123456789", "0.1234567890123456", "01"] {
            #expect(Self.compacted(Array(text.utf8)) == nil, "\(text) is left to the parser")
        }
    }

    @Test("a config object as Postgres prints it is copied compactly, escapes the writer shares and all")
    func aTypicalConfigIsCopiedCompactly() {
        let text = #"{"stop": ["\n\nHuman:", "</answer>", "say \"hi\"\t\\"], "tools": [], "memory": {"kind": "window", "size": 17}, "top_p": 0.67, "verbose": true, "é": null}"#
        let compact = Self.compacted(Array(text.utf8))
        #expect(compact != nil)
        #expect(compact == Self.parsedAndWritten(Array(text.utf8)))
        // An escape the writer spells otherwise (\b as \u0008; a \u escape) is left to the parser.
        #expect(Self.compacted(Array(#"["a\bb"]"#.utf8)) == nil)
        #expect(Self.compacted(Array(#"["\u0001"]"#.utf8)) == nil)
    }

    // MARK: Random documents

    static let characters: [String] = ["a", "Z", "0", " ", "é", "€", "😀", "\"", "\\", "/", "\n", "\t", "\u{1}", "\u{1F}", "\u{7F}", "\u{2028}"]

    static func randomValue(depth: Int, using g: inout SeededGenerator) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 6 : 8), using: &g) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &g))
        case 2: return .integer(Int64.random(in: -1_000_000...1_000_000, using: &g))
        case 3: return .double([0.5, -2.25, 1e21, 3.141592653589793, 1e-7, 2.0][Int.random(in: 0..<6, using: &g)])
        case 4, 5: return .string(randomString(using: &g))
        case 6: return .array((0..<Int.random(in: 0...4, using: &g)).map { _ in randomValue(depth: depth + 1, using: &g) })
        default:
            return .object(JSONObject((0..<Int.random(in: 0...4, using: &g)).map { _ in
                JSONObject.Member(key: randomString(using: &g), value: randomValue(depth: depth + 1, using: &g))
            }))
        }
    }

    static func randomString(using g: inout SeededGenerator) -> String {
        (0..<Int.random(in: 0...8, using: &g)).map { _ in characters.randomElement(using: &g)! }.joined()
    }

    /// JSON text for `value`: strings escaped with `\u` for control characters and, now and
    /// then, for other characters too; numbers in several spellings.
    static func text(_ value: JSONValue, spaced: Bool, using g: inout SeededGenerator) -> String {
        let (comma, colon) = spaced ? (", ", ": ") : (",", ":")
        switch value {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .integer(i): return Bool.random(using: &g) ? "\(i)" : "\(i).0"
        case let .double(d): return Bool.random(using: &g) ? "\(d)" : String(format: "%.17e", d)
        case let .string(s): return quoted(s, using: &g)
        case let .array(elements): return "[" + elements.map { text($0, spaced: spaced, using: &g) }.joined(separator: comma) + "]"
        case let .object(object):
            return "{" + object.map { quoted($0.key, using: &g) + colon + text($0.value, spaced: spaced, using: &g) }.joined(separator: comma) + "}"
        }
    }

    static func quoted(_ string: String, using g: inout SeededGenerator) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || (scalar.value < 0x10000 && Int.random(in: 0..<8, using: &g) == 0):
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
