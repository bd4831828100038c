import Foundation
import PostgresNIO
import Testing

@testable import TrellisRuntime

// MARK: - Cursor

@Suite("Cursor")
struct CursorTests {
    private let id = UUID(uuidString: "0190F0A2-3B4C-7D5E-8F60-718293A4B5C6")!

    /// base64url without padding, as clients would send a hand-made or tampered cursor.
    private func base64url(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("encode then decode gives the same cursor", arguments: [
        ("-created_at", "2026-01-31 09:30:00.123456+00"),
        ("name", "Research \"assistant\" — 日本 😀"),
        ("-rank|agents that write", "0.0607927"),
        ("", ""),
        ("name", String(repeating: "x", count: 1000)),
    ])
    func roundTrip(_ sort: String, _ value: String) throws {
        let cursor = Cursor(sort: sort, value: value, id: id)
        let decoded = try #require(Cursor(encoded: cursor.encoded))
        #expect(decoded == cursor)
    }

    @Test("the encoding is URL-safe base64 without padding")
    func urlSafe() {
        for length in 0..<40 {
            let cursor = Cursor(sort: "name", value: String(repeating: "?>", count: length), id: UUID.v7())
            let encoded = cursor.encoded
            #expect(encoded.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }, "\(encoded)")
            #expect(Cursor(encoded: encoded) == cursor)
        }
    }

    @Test("garbage is rejected", arguments: [
        "", "!!!", "not a cursor", "eyJ", "%%%%", "....", "null", "a", "ab", "abc",
    ])
    func garbage(_ text: String) {
        #expect(Cursor(encoded: text) == nil)
    }

    @Test("well-formed base64 of the wrong JSON is rejected")
    func wrongJSON() {
        let documents = [
            "not json",
            "[]",
            "\"s\"",
            #"{"s":"name","v":"x"}"#,  // no id
            #"{"s":"name","i":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"}"#,  // no value
            #"{"v":"x","i":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"}"#,  // no sort
            #"{"s":1,"v":"x","i":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"}"#,  // sort not a string
            #"{"s":"name","v":2,"i":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"}"#,  // value not a string
            #"{"s":"name","v":"x","i":"not-a-uuid"}"#,
            #"{"s":"name","v":"x","i":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6""#,  // truncated
        ]
        for document in documents {
            #expect(Cursor(encoded: base64url(document)) == nil, "\(document)")
        }
    }

    @Test("a hand-made cursor with the right shape is accepted (the cursor is opaque, not signed)")
    func handMade() {
        let text = base64url(#"{"s":"name","v":"x","i":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"}"#)
        #expect(Cursor(encoded: text) == Cursor(sort: "name", value: "x", id: id))
    }

    /// The JSON text inside a base64url cursor.
    private func decodedText(_ encoded: String) -> String? {
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        return Data(base64Encoded: base64).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("tampering with any character never crashes; only a change of letter case in the id keeps the cursor equal")
    func tampered() {
        let original = Cursor(sort: "-created_at", value: "2026-01-31 09:30:00.123456+00", id: id)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let encoded = Array(original.encoded)
        for index in encoded.indices {
            // Flip the highest of the character's six bits: a bit every position really uses
            // (the low bits of the last character can be padding).
            let value = alphabet.firstIndex(of: encoded[index])!
            var chars = encoded
            chars[index] = alphabet[value ^ 0b10_0000]
            let tampered = String(chars)
            guard Cursor(encoded: tampered) == original else { continue }
            // Equal only when the flipped bit was the case bit of a hex digit of the id (UUID parsing ignores case).
            let before = decodedText(original.encoded)
            let after = decodedText(tampered)
            #expect(before != after && before?.lowercased() == after?.lowercased(), "changed character \(index): \(after ?? "")")
        }
    }

    @Test("cursors longer than 2048 characters are rejected before decoding")
    func tooLong() {
        let long = Cursor(sort: "name", value: String(repeating: "x", count: 2000), id: id)
        #expect(long.encoded.utf8.count > 2048)
        #expect(Cursor(encoded: long.encoded) == nil)
    }
}

// MARK: - Request ids

@Suite("X-Request-ID sanity")
struct RequestIDTests {
    @Test("sane ids are 1-128 characters of [A-Za-z0-9._-]", arguments: [
        "a", "abc-DEF_123.456", "req_0190f0a23b4c7d5e8f60718293a4b5c6", String(repeating: "x", count: 128), "-", "...",
        "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    ])
    func sane(_ id: String) {
        #expect(RequestIDMiddleware.isSane(id))
    }

    @Test("anything else is replaced", arguments: [
        "", String(repeating: "x", count: 129), "a b", "a/b", "a:b", "a\nb", "a\tb", "é", "id😀", "a+b", "a=b", "<script>",
        "a,b", "a;b", "\"quoted\"", "ab\u{0}",
    ])
    func insane(_ id: String) {
        #expect(!RequestIDMiddleware.isSane(id))
    }

    @Test("generated ids are themselves sane, prefixed and unique")
    func generated() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = RequestIDMiddleware.generate()
            #expect(RequestIDMiddleware.isSane(id))
            #expect(id.hasPrefix("req_"))
            #expect(id.count == 36)
            seen.insert(id)
        }
        #expect(seen.count == 1000)
    }
}

// MARK: - UUIDv7

@Suite("UUIDv7")
struct UUIDv7Tests {
    private func bytes(_ uuid: UUID) -> [UInt8] {
        withUnsafeBytes(of: uuid.uuid) { Array($0) }
    }

    @Test("version nibble is 7 and variant bits are 10")
    func versionAndVariant() {
        for _ in 0..<1000 {
            let uuid = UUID.v7()
            let b = bytes(uuid)
            #expect(b[6] >> 4 == 0x7)
            #expect(b[8] >> 6 == 0b10)
            let text = uuid.uuidString
            #expect(Array(text)[14] == "7")
            #expect("89AB".contains(Array(text)[19]))
        }
    }

    @Test("the first 48 bits are the Unix time in milliseconds, big-endian")
    func timestamp() {
        let now = Date(timeIntervalSince1970: 1_790_000_000.125)  // exact in binary
        let b = bytes(UUID.v7(now: now))
        let millis = b[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(millis == 1_790_000_000_125)
        // Before the epoch clamps to zero rather than trapping.
        let early = bytes(UUID.v7(now: Date(timeIntervalSince1970: -5)))
        #expect(early[0..<6].allSatisfy { $0 == 0 })
    }

    @Test("ids made in later milliseconds sort later, as bytes and as lowercase text")
    func ordering() {
        // Mid-millisecond instants, so floating-point rounding cannot put two steps in one millisecond.
        func at(_ millis: Int) -> Date { Date(timeIntervalSince1970: (Double(1_700_000_000_000 + millis) + 0.5) / 1000) }
        var previous = UUID.v7(now: at(0))
        for step in 1...2000 {
            let next = UUID.v7(now: at(step))
            #expect(bytes(previous).lexicographicallyPrecedes(bytes(next)))
            #expect(previous.uuidString.lowercased() < next.uuidString.lowercased())
            previous = next
        }
    }

    @Test("ids made in the same millisecond are still unique")
    func uniqueness() {
        let now = Date()
        var seen = Set<UUID>()
        for _ in 0..<10_000 { seen.insert(UUID.v7(now: now)) }
        #expect(seen.count == 10_000)
    }
}

// MARK: - List query parsing

/// A minimal resource so the query parser can be driven without generated code.
private struct Widget: Resource {
    typealias Create = WidgetCreate
    typealias Patch = WidgetPatch
    typealias Filter = WidgetFilter

    static let descriptor = ResourceDescriptor(
        name: "Widget", table: "widgets", path: "widgets", operations: Set(ResourceOperation.allCases),
        columns: [ColumnDescriptor("id", "uuid"), ColumnDescriptor("name", "text")],
        insertColumns: [ColumnDescriptor("name", "text")], sortKeys: ["created_at", "name"],
        readScope: "widgets:read", writeScope: "widgets:write")

    var id: UUID
    var version: Int64

    init(row: PostgresRow) throws { throw CancellationError() }

    func writeJSON(to writer: inout JSONWriter) {}
}

private struct WidgetCreate: ResourceCreate {
    static func validate(_ json: JSONValue) -> Validated<WidgetCreate> { .valid(WidgetCreate()) }
    var insertValues: [SQLValue] { [] }
}

private struct WidgetPatch: ResourcePatch {
    static func validate(_ json: JSONValue) -> Validated<WidgetPatch> { .valid(WidgetPatch()) }
    var assignments: [ColumnAssignment] { [] }
}

private struct WidgetFilter: ResourceFilter {
    var isActive: Bool?

    mutating func parse(_ name: String, _ value: String, _ validator: inout Validator) -> Bool {
        guard name == "is_active" else { return false }
        isActive = validator.queryBoolean(value, at: "/query/is_active")
        return true
    }

    var conditions: [ColumnCondition] { isActive.map { [ColumnCondition("is_active", .bool($0))] } ?? [] }
}

@Suite("List query parameters")
struct ListQueryTests {
    private func parse(_ parameters: [(String, String)], search: Bool = false) -> Validated<ListQuery> {
        ListQueryParser.parse(Widget.self, parameters: parameters, limits: PageLimits(), isSearch: search)
    }

    private func problems(_ parameters: [(String, String)], search: Bool = false) -> [FieldProblem] {
        if case let .invalid(problems) = parse(parameters, search: search) { return problems }
        return []
    }

    @Test("defaults: 20 rows, newest first")
    func defaults() throws {
        guard case let .valid(query) = parse([]) else {
            Issue.record("empty query rejected")
            return
        }
        #expect(query.limit == 20)
        #expect(query.sortKey == "created_at")
        #expect(query.descending)
        #expect(query.cursor == nil)
        #expect(query.conditions.isEmpty)
    }

    @Test("limit must be an integer from 1 to 100", arguments: [
        ("0", FieldProblem.Code.tooSmall), ("101", .tooLarge), ("-5", .tooSmall), ("ten", .type), ("1.5", .type), ("", .type),
    ])
    func limitBounds(_ value: String, _ code: FieldProblem.Code) {
        #expect(problems([("limit", value)]).map(\.code) == [code])
        #expect(problems([("limit", value)]).map(\.path) == ["/query/limit"])
    }

    @Test("limit 1 and 100 are accepted")
    func limitEdges() {
        for value in ["1", "100"] {
            guard case let .valid(query) = parse([("limit", value)]) else {
                Issue.record("limit=\(value) rejected")
                continue
            }
            #expect(query.limit == Int(value))
        }
    }

    @Test("sort accepts the schema's keys in both directions and rejects others")
    func sort() {
        if case let .valid(query) = parse([("sort", "name")]) {
            #expect(query.sortKey == "name")
            #expect(!query.descending)
        } else {
            Issue.record("sort=name rejected")
        }
        #expect(problems([("sort", "color")]).map(\.code) == [.enum])
        #expect(problems([("sort", "--name")]).map(\.code) == [.enum])
    }

    @Test("filters, unknown parameters and duplicates are all reported together")
    func everyProblem() {
        let p = problems([("is_active", "yes"), ("colour", "red"), ("limit", "0"), ("limit", "5"), ("created_after", "yesterday")])
        #expect(p.map(\.path) == ["/query/is_active", "/query/colour", "/query/limit", "/query/limit", "/query/created_after"])
        #expect(p.map(\.code) == [.type, .unknownField, .tooSmall, .type, .format])
    }

    @Test("a filter on a filter field becomes a condition")
    func filterCondition() {
        guard case let .valid(query) = parse([("is_active", "false")]) else {
            Issue.record("is_active=false rejected")
            return
        }
        #expect(query.conditions == [ColumnCondition("is_active", .bool(false))])
    }

    @Test("a cursor is only valid with the sort it was made for")
    func cursorMustMatchSort() throws {
        let cursor = Cursor(sort: "-created_at", value: "2026-01-31 09:30:00+00", id: UUID.v7())
        guard case let .valid(query) = parse([("cursor", cursor.encoded)]) else {
            Issue.record("a cursor for the default sort was rejected")
            return
        }
        #expect(query.cursor == cursor)
        #expect(problems([("cursor", cursor.encoded), ("sort", "name")]).map(\.path) == ["/query/cursor"])
        #expect(problems([("cursor", "garbage")]).map(\.code) == [.format])
    }

    @Test("search requires a non-empty q and pins cursors to the search text")
    func search() throws {
        #expect(problems([], search: true).map(\.code) == [.required])
        #expect(problems([("q", "   ")], search: true).map(\.code) == [.required])
        #expect(problems([("q", "x"), ("sort", "name")], search: true).map(\.code) == [.unknownField])
        let cursor = Cursor(sort: "-rank|agents", value: "0.5", id: UUID.v7())
        guard case let .valid(query) = parse([("q", " agents "), ("cursor", cursor.encoded)], search: true) else {
            Issue.record("a search cursor for the same text was rejected")
            return
        }
        #expect(query.search == "agents")
        #expect(problems([("q", "robots"), ("cursor", cursor.encoded)], search: true).map(\.path) == ["/query/cursor"])
    }

    @Test("created_after and created_before take RFC 3339 timestamps")
    func timeWindow() {
        guard case let .valid(query) = parse([("created_after", "2026-01-01T00:00:00Z"), ("created_before", "2026-02-01T00:00:00+01:00")])
        else {
            Issue.record("valid window rejected")
            return
        }
        #expect(query.createdAfter == RFC3339.parse("2026-01-01T00:00:00Z"))
        #expect(query.createdBefore == RFC3339.parse("2026-01-31T23:00:00Z"))
    }
}
