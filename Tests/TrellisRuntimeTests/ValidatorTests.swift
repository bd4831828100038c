import Foundation
import Testing

@testable import TrellisRuntime

/// A schema enum like the ones the generator emits.
enum TestModel: String, SchemaEnum {
    case claude, gpt, gemini
}

@Suite("Validator")
struct ValidatorTests {
    private static let slug = FieldPattern("^[a-z][a-z0-9-]*$")

    /// Runs `body` on a fresh validator and returns what it reported.
    private func problems(_ body: (inout Validator) -> Void) -> [FieldProblem] {
        var v = Validator()
        body(&v)
        return v.problems
    }

    private func codes(_ body: (inout Validator) -> Void) -> [FieldProblem.Code] {
        problems(body).map(\.code)
    }

    // MARK: Every code

    /// One input per code of DESIGN.md §4; each must produce exactly that code.
    private static let producers: [(FieldProblem.Code, @Sendable (inout Validator) -> Void)] = [
        (.required, { v in v.missing("/name") }),
        (.type, { v in _ = v.string(.integer(3), at: "/name") }),
        (.tooShort, { v in _ = v.string(.string(""), at: "/name", minLength: 1) }),
        (.tooLong, { v in _ = v.string(.string("abcd"), at: "/name", maxLength: 3) }),
        (.tooSmall, { v in _ = v.integer(.integer(-1), at: "/tokens", minimum: 0) }),
        (.tooLarge, { v in _ = v.number(.double(2.5), at: "/temperature", minimum: 0, maximum: 2) }),
        (.pattern, { v in _ = v.string(.string("Not A Slug"), at: "/slug", pattern: ValidatorTests.slug) }),
        (.format, { v in _ = v.email(.string("not-an-email"), at: "/owner_email") }),
        (.enum, { v in _ = v.enumeration(.string("llama"), at: "/model", as: TestModel.self) }),
        (.unknownField, { v in v.unknownField("colour") }),
        (.tooManyItems, { v in
            _ = v.array(.array([.string("a"), .string("b"), .string("c")]), at: "/tags", maxItems: 2) { v, item, path in
                v.string(item, at: path)
            }
        }),
        (.readOnly, { v in v.readOnly("/id") }),
    ]

    @Test("every problem code is produced by some input, and only that code")
    func everyCodeIsProduced() {
        for (code, produce) in Self.producers {
            #expect(codes(produce) == [code], "producer for \(code.rawValue)")
        }
        #expect(Set(Self.producers.map(\.0)) == Set(FieldProblem.Code.allCases))
    }

    @Test("codes are spelled as in the API contract")
    func codeSpellings() {
        #expect(FieldProblem.Code.allCases.map(\.rawValue).sorted() == [
            "enum", "format", "pattern", "read_only", "required", "too_large", "too_long", "too_many_items",
            "too_short", "too_small", "type", "unknown_field",
        ])
    }

    // MARK: Strings and Unicode

    @Test("length counts Unicode scalars, like Postgres char_length")
    func lengthCountsScalars() {
        // One scalar, four UTF-8 bytes, two UTF-16 units.
        #expect(codes { v in _ = v.string(.string("😀"), at: "/s", maxLength: 1) } == [])
        #expect(codes { v in _ = v.string(.string("😀😀"), at: "/s", maxLength: 1) } == [.tooLong])
        // "é" precomposed is one scalar; "e" + combining acute is two scalars but one Character.
        #expect(codes { v in _ = v.string(.string("\u{E9}"), at: "/s", maxLength: 1) } == [])
        #expect(codes { v in _ = v.string(.string("e\u{301}"), at: "/s", maxLength: 1) } == [.tooLong])
        #expect(codes { v in _ = v.string(.string("e\u{301}"), at: "/s", minLength: 2) } == [])
        // A family emoji: 5 scalars (3 people + 2 zero-width joiners), one Character.
        let family = "👨\u{200D}👩\u{200D}👧"
        #expect(family.count == 1)
        #expect(codes { v in _ = v.string(.string(family), at: "/s", maxLength: 5) } == [])
        #expect(codes { v in _ = v.string(.string(family), at: "/s", maxLength: 4) } == [.tooLong])
        // A flag: two regional indicators.
        #expect(codes { v in _ = v.string(.string("🇫🇷"), at: "/s", minLength: 2, maxLength: 2) } == [])
        // CJK: 3 scalars, 9 bytes.
        #expect(codes { v in _ = v.string(.string("日本語"), at: "/s", maxLength: 3) } == [])
    }

    @Test("length bounds are inclusive, and messages say the limit")
    func lengthBounds() throws {
        #expect(codes { v in _ = v.string(.string("a"), at: "/s", minLength: 1, maxLength: 3) } == [])
        #expect(codes { v in _ = v.string(.string("abc"), at: "/s", minLength: 1, maxLength: 3) } == [])
        let short = try #require(problems { v in _ = v.string(.string(""), at: "/name", minLength: 1) }.first)
        #expect(short == FieldProblem(path: "/name", code: .tooShort, message: "must be at least 1 character"))
        let long = try #require(problems { v in _ = v.string(.string(String(repeating: "x", count: 201)), at: "/name", maxLength: 200) }.first)
        #expect(long == FieldProblem(path: "/name", code: .tooLong, message: "must be at most 200 characters"))
    }

    @Test("the string reader returns the value when valid and nil when not")
    func stringReturnValues() {
        var v = Validator()
        #expect(v.string(.string("ok"), at: "/a", minLength: 1, maxLength: 5, pattern: Self.slug) == "ok")
        #expect(v.string(.string("Bad!"), at: "/b", pattern: Self.slug) == nil)
        #expect(v.string(.null, at: "/c") == nil)
        #expect(v.problems.map(\.path) == ["/b", "/c"])
        #expect(v.problems.map(\.code) == [.pattern, .type])
        #expect(v.problems[1].message == "must not be null")
    }

    @Test("type mismatches name the expected and the actual type")
    func typeMessages() {
        let p = problems { v in
            _ = v.string(.integer(1), at: "/a")
            _ = v.integer(.string("1"), at: "/b")
            _ = v.number(.bool(true), at: "/c")
            _ = v.boolean(.string("true"), at: "/d")
            _ = v.array(.object(JSONObject()), at: "/e") { v, item, path in v.string(item, at: path) }
            _ = v.object(.array([]), at: "/f")
            _ = v.uuid(.integer(1), at: "/g")
        }
        #expect(p.map(\.code) == Array(repeating: .type, count: 7))
        #expect(p.map(\.message) == [
            "must be a string, not an integer",
            "must be an integer, not a string",
            "must be a number, not a boolean",
            "must be a boolean, not a string",
            "must be an array, not an object",
            "must be an object, not an array",
            "must be a UUID string, not an integer",
        ])
    }

    // MARK: Numbers

    @Test("integers: integral doubles are accepted, fractions are a type error, bounds are inclusive")
    func integers() {
        var v = Validator()
        #expect(v.integer(.integer(5), at: "/a", minimum: 0, maximum: 5) == 5)
        #expect(v.integer(.double(3.0), at: "/b") == 3)
        #expect(v.integer(.integer(0), at: "/c", minimum: 0) == 0)
        #expect(v.isValid)
        #expect(v.integer(.double(3.5), at: "/d") == nil)
        #expect(v.integer(.integer(6), at: "/e", maximum: 5) == nil)
        #expect(v.integer(.double(1e300), at: "/f") == nil)
        #expect(v.problems.map(\.code) == [.type, .tooLarge, .type])
        #expect(v.problems[1].message == "must be at most 5")
    }

    @Test("numbers: integers are accepted, bounds are inclusive and messages print them plainly")
    func numbers() {
        var v = Validator()
        #expect(v.number(.integer(2), at: "/t", minimum: 0, maximum: 2) == 2.0)
        #expect(v.number(.double(0.0), at: "/t", minimum: 0, maximum: 2) == 0.0)
        #expect(v.number(.double(0.7), at: "/t") == 0.7)
        #expect(v.isValid)
        #expect(v.number(.double(-0.1), at: "/t", minimum: 0, maximum: 2) == nil)
        #expect(v.number(.double(2.0001), at: "/t", minimum: 0, maximum: 2) == nil)
        #expect(v.number(.double(0.05), at: "/u", minimum: 0.1) == nil)
        #expect(v.problems.map(\.code) == [.tooSmall, .tooLarge, .tooSmall])
        #expect(v.problems.map(\.message) == ["must be at least 0", "must be at most 2", "must be at least 0.1"])
    }

    // MARK: Formats

    @Test("format readers: email, url, uuid, datetime, date")
    func formats() {
        var v = Validator()
        #expect(v.email(.string("ada@example.com"), at: "/e") == "ada@example.com")
        #expect(v.url(.string("https://example.com/a?b=c"), at: "/u") == "https://example.com/a?b=c")
        #expect(v.uuid(.string("0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"), at: "/i") != nil)
        #expect(v.datetime(.string("2026-01-31T09:30:00Z"), at: "/d") == RFC3339.parse("2026-01-31T09:30:00Z"))
        #expect(v.date(.string("2026-01-31"), at: "/day") == RFC3339.parseDate("2026-01-31"))
        #expect(v.isValid)

        #expect(v.email(.string("ada@"), at: "/e") == nil)
        #expect(v.url(.string("ftp://example.com"), at: "/u") == nil)
        #expect(v.uuid(.string("not-a-uuid"), at: "/i") == nil)
        #expect(v.datetime(.string("2026-02-30T00:00:00Z"), at: "/d") == nil)
        #expect(v.date(.string("2026-02-30"), at: "/day") == nil)
        #expect(v.problems.map(\.code) == Array(repeating: .format, count: 5))
        #expect(v.problems.map(\.path) == ["/e", "/u", "/i", "/d", "/day"])
    }

    @Test("email format checks length before format")
    func emailLengthFirst() {
        #expect(codes { v in _ = v.email(.string("a@b.co"), at: "/e", maxLength: 3) } == [.tooLong])
    }

    @Test("email addresses", arguments: [
        ("a@b.co", true), ("first.last+tag@sub.example.org", true), ("a@b", false), ("@b.co", false),
        ("a@@b.co", false), ("a@.b.co", false), ("a@b.co.", false), ("a@b..co", false), ("a b@c.do", false),
        ("<a@b.co>", false), ("a@b.co,c@d.co", false), ("", false),
    ])
    func emails(_ text: String, _ valid: Bool) {
        #expect(Formats.isEmail(text) == valid)
    }

    @Test("URLs", arguments: [
        ("https://example.com", true), ("http://127.0.0.1:8080/x", true), ("HTTPS://EXAMPLE.COM", true),
        ("ftp://example.com", false), ("example.com", false), ("https://", false), ("/relative", false),
        ("https://exa mple.com", false), ("javascript:alert(1)", false), ("", false),
    ])
    func urls(_ text: String, _ valid: Bool) {
        #expect(Formats.isHTTPURL(text) == valid)
    }

    @Test("patterns must match; an invalid pattern matches nothing")
    func patterns() {
        #expect(Self.slug.matches("agent-7"))
        #expect(!Self.slug.matches("Agent 7"))
        let broken = FieldPattern("([")
        #expect(!broken.matches("anything"))
        let p = problems { v in _ = v.string(.string("X"), at: "/slug", pattern: Self.slug) }
        #expect(p == [FieldProblem(path: "/slug", code: .pattern, message: "must match the pattern ^[a-z][a-z0-9-]*$")])
    }

    @Test("enums list the allowed values")
    func enums() {
        var v = Validator()
        #expect(v.enumeration(.string("gpt"), at: "/model", as: TestModel.self) == .gpt)
        #expect(v.enumeration(.string("GPT"), at: "/model", as: TestModel.self) == nil)
        #expect(v.enumeration(.integer(1), at: "/model", as: TestModel.self) == nil)
        #expect(v.problems == [
            FieldProblem(path: "/model", code: .enum, message: "must be one of: claude, gpt, gemini"),
            FieldProblem(path: "/model", code: .type, message: "must be a string, not an integer"),
        ])
    }

    // MARK: Arrays

    @Test("array items are reported at /tags/<index>, every bad item")
    func arrayItemPaths() {
        var v = Validator()
        let tags: JSONValue = .array([.string("ok"), .integer(1), .string("fine"), .string(String(repeating: "x", count: 41)), .string("")])
        let result = v.array(tags, at: "/tags", maxItems: 20) { v, item, path in
            v.string(item, at: path, minLength: 1, maxLength: 40)
        }
        #expect(result == nil)
        #expect(v.problems.map(\.path) == ["/tags/1", "/tags/3", "/tags/4"])
        #expect(v.problems.map(\.code) == [.type, .tooLong, .tooShort])
    }

    @Test("a valid array returns its items in order")
    func arrayValid() {
        var v = Validator()
        let result = v.array(.array([.string("a"), .string("b")]), at: "/tags", minItems: 1, maxItems: 2) { v, item, path in
            v.string(item, at: path)
        }
        #expect(result == ["a", "b"])
        #expect(v.isValid)
    }

    @Test("too many and too few items; item problems are still reported")
    func arrayCounts() {
        let many = problems { v in
            _ = v.array(.array([.string("a"), .integer(2), .string("c")]), at: "/tags", maxItems: 2) { v, item, path in
                v.string(item, at: path)
            }
        }
        #expect(many.map(\.code) == [.tooManyItems, .type])
        #expect(many.map(\.path) == ["/tags", "/tags/1"])
        #expect(many[0].message == "must have at most 2 items")
        let few = problems { v in
            _ = v.array(.array([]), at: "/tags", minItems: 1) { v, item, path in v.string(item, at: path) }
        }
        #expect(few == [FieldProblem(path: "/tags", code: .tooShort, message: "must have at least 1 item")])
    }

    @Test("nested arrays stay JSON; non-arrays are type errors")
    func jsonArrays() {
        var v = Validator()
        #expect(v.jsonArray(.array([.integer(1)]), at: "/m/0") == .array([.integer(1)]))
        #expect(v.jsonArray(.null, at: "/m/1") == nil)
        #expect(v.jsonArray(.string("x"), at: "/m/2") == nil)
        #expect(v.problems.map(\.code) == [.type, .type])
        #expect(v.problems.map(\.message) == ["must not be null", "must be an array, not string"])
    }

    // MARK: Objects

    @Test("the body must be an object: path is empty, code is type")
    func topLevelObject() {
        var v = Validator()
        #expect(v.object(.array([])) == nil)
        #expect(v.object(.object(JSONObject(["a": .null]))) != nil)
        #expect(v.problems == [FieldProblem(path: "", code: .type, message: "must be a JSON object, not an array")])
    }

    @Test("unknown fields, read-only and write-once fields")
    func objectLevelProblems() {
        let p = problems { v in
            v.unknownField("colour")
            v.unknownField("a/b~c")
            v.readOnly("/id")
            v.writeOnce("/swarm_id")
            v.missing("/name")
            v.notNull("/model")
        }
        #expect(p.map(\.path) == ["/colour", "/a~1b~0c", "/id", "/swarm_id", "/name", "/model"])
        #expect(p.map(\.code) == [.unknownField, .unknownField, .readOnly, .readOnly, .required, .type])
    }

    @Test("JSON Pointer tokens escape ~ and / (RFC 6901)")
    func pointerTokens() {
        #expect(jsonPointerToken("plain") == "plain")
        #expect(jsonPointerToken("a/b") == "a~1b")
        #expect(jsonPointerToken("a~b") == "a~0b")
        #expect(jsonPointerToken("~/") == "~0~1")
    }

    @Test("a hand-written body validator collects every problem in document order")
    func collectsEverything() throws {
        let body = try JSONValue(parsing: #"""
            {"name": "", "temperature": 3, "model": "llama", "tags": ["ok", 7], "id": "x", "colour": "red"}
            """#)
        var v = Validator()
        let parsed = v.object(body)
        let object = try #require(parsed)
        for member in object {
            let path = "/" + jsonPointerToken(member.key)
            switch member.key {
            case "name": _ = v.string(member.value, at: path, minLength: 1, maxLength: 200)
            case "temperature": _ = v.number(member.value, at: path, minimum: 0, maximum: 2)
            case "model": _ = v.enumeration(member.value, at: path, as: TestModel.self)
            case "tags": _ = v.array(member.value, at: path) { v, item, path in v.string(item, at: path) }
            case "id": v.readOnly(path)
            default: v.unknownField(member.key)
            }
        }
        #expect(v.problems.map(\.path) == ["/name", "/temperature", "/model", "/tags/1", "/id", "/colour"])
        #expect(v.problems.map(\.code) == [.tooShort, .tooLarge, .enum, .type, .readOnly, .unknownField])
        #expect(!v.isValid)
    }

    // MARK: Query values

    @Test("query values: booleans, integers, numbers parsed from text")
    func queryReaders() {
        var v = Validator()
        #expect(v.queryBoolean("true", at: "/query/a") == true)
        #expect(v.queryBoolean("false", at: "/query/a") == false)
        #expect(v.queryInteger("-12", at: "/query/b") == -12)
        #expect(v.queryNumber("0.5", at: "/query/c") == 0.5)
        #expect(v.isValid)
        #expect(v.queryBoolean("1", at: "/query/a") == nil)
        #expect(v.queryBoolean("TRUE", at: "/query/a") == nil)
        #expect(v.queryInteger("1.5", at: "/query/b") == nil)
        #expect(v.queryInteger("99999999999999999999", at: "/query/b") == nil)
        #expect(v.queryNumber("nan", at: "/query/c") == nil)
        #expect(v.queryNumber("inf", at: "/query/c") == nil)
        #expect(v.queryNumber("", at: "/query/c") == nil)
        #expect(v.problems.map(\.code) == Array(repeating: .type, count: 7))
        #expect(v.problems.map(\.path) == ["/query/a", "/query/a", "/query/b", "/query/b", "/query/c", "/query/c", "/query/c"])
    }
}
