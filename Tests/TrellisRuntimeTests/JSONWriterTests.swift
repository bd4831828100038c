import Foundation
import Testing

@testable import TrellisRuntime

@Suite("JSON writer")
struct JSONWriterTests {
    private func text(_ value: JSONValue) -> String { value.jsonText }

    private func written(_ body: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        body(&w)
        return w.string
    }

    // MARK: Escaping

    @Test("quotes, backslashes and the short control escapes")
    func shortEscapes() {
        #expect(text(.string("say \"hi\"")) == #""say \"hi\"""#)
        #expect(text(.string(#"C:\path"#)) == #""C:\\path""#)
        #expect(text(.string("a\nb\rc\td")) == #""a\nb\rc\td""#)
    }

    @Test("other control characters become lower-case \\u00XX")
    func controlEscapes() {
        #expect(text(.string("\u{0}")) == #""\u0000""#)
        #expect(text(.string("\u{1}\u{8}\u{C}\u{1F}")) == #""\u0001\u0008\u000c\u001f""#)
        for scalar in 0..<0x20 {
            let out = text(.string(String(UnicodeScalar(UInt8(scalar)))))
            #expect(!out.utf8.dropFirst().dropLast().contains { $0 < 0x20 }, "raw control \(scalar) in \(out)")
        }
    }

    @Test("slash, DEL and non-ASCII are written as is (UTF-8)")
    func passThrough() {
        #expect(text(.string("a/b")) == #""a/b""#)
        #expect(text(.string("\u{7F}")) == "\"\u{7F}\"")
        #expect(text(.string("héllo 日本 😀 \u{2028}")) == "\"héllo 日本 😀 \u{2028}\"")
    }

    @Test("object keys are escaped too")
    func keyEscapes() {
        let value = JSONValue.object(JSONObject(["a\"b\n": .null]))
        #expect(text(value) == #"{"a\"b\n":null}"#)
    }

    // MARK: Layout

    @Test("compact output, members in order, nested containers separated correctly")
    func compactLayout() {
        let value = JSONValue.object(JSONObject([
            "z": .integer(1),
            "a": .array([.bool(true), .bool(false), .null, .array([]), .object(JSONObject())]),
            "m": .object(JSONObject(["x": .string("y"), "n": .array([.integer(1), .integer(2)])])),
        ]))
        #expect(text(value) == #"{"z":1,"a":[true,false,null,[],{}],"m":{"x":"y","n":[1,2]}}"#)
        #expect(text(.array([.array([.array([])]), .array([])])) == "[[[]],[]]")
    }

    @Test("the low-level calls produce the same text")
    func manualCalls() {
        let out = written { w in
            w.beginObject()
            w.key("id"); w.value(UUID(uuidString: "0190F0A2-3B4C-7D5E-8F60-718293A4B5C6")!)
            w.key("at"); w.value(Date(timeIntervalSince1970: 1.5))
            w.key("n"); w.value(Int64(-3))
            w.key("none"); w.value(String?.none)
            w.key("some"); w.value(Optional("x"))
            w.key("list"); w.value(["a", "b"])
            w.key("raw"); w.raw(Array(#"{"pre":1}"#.utf8))
            w.key("empty")
            w.beginArray()
            w.endArray()
            w.endObject()
        }
        #expect(out == #"{"id":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6","at":"1970-01-01T00:00:01.500000Z","n":-3,"none":null,"some":"x","list":["a","b"],"raw":{"pre":1},"empty":[]}"#)
    }

    @Test("integers, including the Int64 extremes")
    func integers() {
        #expect(text(.integer(0)) == "0")
        #expect(text(.integer(-42)) == "-42")
        #expect(text(.integer(Int64.max)) == "9223372036854775807")
        #expect(text(.integer(Int64.min)) == "-9223372036854775808")
    }

    @Test("doubles: integral values print without a fraction, others round-trip exactly, non-finite become null")
    func doubles() throws {
        #expect(text(.double(2.0)) == "2")
        #expect(text(.double(-0.0)) == "0")
        #expect(text(.double(0.5)) == "0.5")
        #expect(text(.double(0.1)) == "0.1")
        #expect(text(.double(.nan)) == "null")
        #expect(text(.double(.infinity)) == "null")
        #expect(text(.double(-.infinity)) == "null")
        for d in [1e20, 1e15, 1.5e-7, Double.greatestFiniteMagnitude, Double.leastNonzeroMagnitude, 123.456, -9.87e-300] {
            let parsed = try JSONValue(parsing: text(.double(d)))
            #expect(parsed == .double(d), "\(d) wrote \(text(.double(d)))")
        }
    }

    // MARK: Round trips

    @Test("parse(write(v)) == v for 2,000 generated values (fixed seed)")
    func propertyRoundTrip() throws {
        var rng = SeededGenerator(seed: 0x7E11_15)
        for iteration in 0..<2000 {
            let value = Self.randomValue(depth: 0, using: &rng)
            let written = value.jsonText
            let parsed: JSONValue
            do {
                parsed = try JSONValue(parsing: written)
            } catch {
                Issue.record("iteration \(iteration): writer output does not parse: \(error)\n\(written)")
                continue
            }
            #expect(parsed == Self.normalized(value), "iteration \(iteration): \(written)")
            // Writing is a fixed point once normalized.
            #expect(parsed.jsonText == written, "iteration \(iteration)")
        }
    }

    @Test("write(parse(t)) == t for compact canonical documents")
    func textRoundTrip() throws {
        let documents = [
            #"{"name":"Ada","tags":["a","b"],"n":1,"x":0.25,"ok":true,"none":null,"o":{"deep":[[{}]]}}"#,
            #"["\u0001\"\\\n",-5,1e+20,"日本"]"#,
            "[]",
            "\"\"",
        ]
        for document in documents {
            #expect(try JSONValue(parsing: document).jsonText == document)
        }
    }

    // MARK: Generators

    /// The writer prints integral doubles below 1e15 as integers, so they read back as `.integer`.
    static func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case let .double(d) where d == d.rounded() && abs(d) < 1e15: .integer(Int64(d))
        case let .double(d) where !d.isFinite: .null
        case let .array(elements): .array(elements.map(normalized))
        case let .object(object):
            .object(JSONObject(object.members.map { JSONObject.Member(key: $0.key, value: normalized($0.value)) }))
        default: value
        }
    }

    static let alphabet: [Unicode.Scalar] = {
        var scalars: [Unicode.Scalar] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}",
                                         "é", "ß", "€", "日", "😀", "\u{2028}", "\u{FEFF}", "\u{10FFFF}", "\u{301}", "\u{200D}"]
        scalars += (UInt32(0x20)...0x7E).compactMap { Unicode.Scalar($0) }
        return scalars
    }()

    static func randomString(using rng: inout SeededGenerator) -> String {
        let length = Int.random(in: 0...12, using: &rng)
        var s = String.UnicodeScalarView()
        for _ in 0..<length { s.append(alphabet.randomElement(using: &rng)!) }
        return String(s)
    }

    static func randomDouble(using rng: inout SeededGenerator) -> Double {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return Double.random(in: -1...1, using: &rng)
        case 1: return Double.random(in: -1e6...1e6, using: &rng)
        case 2: return Double(Int.random(in: -1000...1000, using: &rng))  // integral
        case 3: return Double(bitPattern: rng.next())  // anything, NaN and infinities included
        case 4: return Double.random(in: 1e15...1e300, using: &rng)
        default: return Double.random(in: -1e-300...1e-300, using: &rng)
        }
    }

    static func randomValue(depth: Int, using rng: inout SeededGenerator) -> JSONValue {
        let maxKind = depth >= 4 ? 5 : 7
        switch Int.random(in: 0..<maxKind, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .integer(Int64(bitPattern: rng.next()) >> Int64.random(in: 0...63, using: &rng))
        case 3: return .double(randomDouble(using: &rng))
        case 4: return .string(randomString(using: &rng))
        case 5:
            let count = Int.random(in: 0...5, using: &rng)
            return .array((0..<count).map { _ in randomValue(depth: depth + 1, using: &rng) })
        default:
            let count = Int.random(in: 0...5, using: &rng)
            return .object(JSONObject((0..<count).map { _ in
                JSONObject.Member(key: randomString(using: &rng), value: randomValue(depth: depth + 1, using: &rng))
            }))
        }
    }

    @Test("UUIDs are written lowercase and hyphenated, byte for byte as Foundation's uuidString lowercased")
    func uuids() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<500 {
            var bytes = [UInt8](repeating: 0, count: 16)
            for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
            let uuid = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                                   bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
            #expect(uuid.lowercasedString == uuid.uuidString.lowercased())
            var w = JSONWriter()
            w.value(uuid)
            #expect(w.string == "\"" + uuid.uuidString.lowercased() + "\"")
        }
    }

    @Test("integers are written digit by digit as String(describing:) would")
    func integerDigits() {
        var generator = SeededGenerator(seed: 11)
        let edges: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 1_000_000, Int64.max, Int64.min, Int64.max - 1, Int64.min + 1]
        let random = (0..<500).map { _ in Int64.random(in: Int64.min...Int64.max, using: &generator) >> Int64.random(in: 0...62, using: &generator) }
        for value in edges + random {
            var w = JSONWriter()
            w.value(value)
            #expect(w.string == String(value))
        }
    }
}
