import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import TrellisPostgres

@testable import TrellisRuntime

// MARK: - Cursor

@Suite("Cursor")
struct CursorTests {
    private let id = UUID(uuidString: "0190F0A2-3B4C-7D5E-8F60-718293A4B5C6")!
    private let keys = CursorKeys([String(repeating: "k", count: 32)])!

    /// A cursor for `json` signed with `keys`: well-formed on the wire whatever its content.
    private func signed(_ json: String, with keys: CursorKeys) -> String {
        Base64URL.encode(Array(json.utf8)) + "." + Base64URL.encode(keys.sign(Array(json.utf8)))
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
        let decoded = try #require(Cursor(encoded: cursor.encoded(with: keys), keys: keys))
        #expect(decoded == cursor)
    }

    @Test("the encoding is URL-safe base64 without padding, payload and tag joined by a dot")
    func urlSafe() {
        for length in 0..<40 {
            let cursor = Cursor(sort: "name", value: String(repeating: "?>", count: length), id: UUID.v7())
            let encoded = cursor.encoded(with: keys)
            #expect(encoded.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }, "\(encoded)")
            #expect(encoded.filter { $0 == "." }.count == 1)
            #expect(Cursor(encoded: encoded, keys: keys) == cursor)
        }
    }

    @Test("garbage is rejected", arguments: [
        "", "!!!", "not a cursor", "eyJ", "%%%%", "....", "null", "a", "ab", "abc", ".", "a.b", "eyJ.", ".eyJ",
    ])
    func garbage(_ text: String) {
        #expect(Cursor(encoded: text, keys: keys) == nil)
    }

    @Test("well-formed and signed, but the wrong JSON, is rejected")
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
            #"{"s":"name","v":"a\u0000b","i":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"}"#,  // NUL in the value
            #"{"s":"na\u0000me","v":"x","i":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"}"#,  // NUL in the sort
        ]
        for document in documents {
            #expect(Cursor(encoded: signed(document, with: keys), keys: keys) == nil, "\(document)")
        }
    }

    @Test("a hand-made cursor with the right shape is rejected: unsigned, or signed with another key")
    func handMade() {
        let json = #"{"s":"name","v":"x","i":"0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"}"#
        #expect(Cursor(encoded: signed(json, with: keys), keys: keys) == Cursor(sort: "name", value: "x", id: id))
        #expect(Cursor(encoded: Base64URL.encode(Array(json.utf8)), keys: keys) == nil)
        #expect(Cursor(encoded: Base64URL.encode(Array(json.utf8)) + ".", keys: keys) == nil)
        #expect(Cursor(encoded: signed(json, with: CursorKeys.ephemeral()), keys: keys) == nil)
    }

    @Test("flipping any bit of any character makes the cursor invalid")
    func tampered() {
        let original = Cursor(sort: "-created_at", value: "2026-01-31 09:30:00.123456+00", id: id)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let encoded = Array(original.encoded(with: keys))
        for index in encoded.indices where encoded[index] != "." {
            // Flip the highest of the character's six bits: a bit every position really uses
            // (the low bits of the last character of each part can be padding).
            let value = alphabet.firstIndex(of: encoded[index])!
            var chars = encoded
            chars[index] = alphabet[value ^ 0b10_0000]
            #expect(Cursor(encoded: String(chars), keys: keys) == nil, "changed character \(index)")
        }
    }

    @Test("rotation: the first key signs, every listed key verifies, a dropped key no longer does")
    func rotation() throws {
        let old = String(repeating: "o", count: 32)
        let new = String(repeating: "n", count: 40)
        let cursor = Cursor(sort: "name", value: "x", id: id)
        let byOld = cursor.encoded(with: try #require(CursorKeys([old])))
        let rotating = try #require(CursorKeys([new, old]))
        #expect(Cursor(encoded: byOld, keys: rotating) == cursor)
        let byRotating = cursor.encoded(with: rotating)
        #expect(Cursor(encoded: byRotating, keys: try #require(CursorKeys([new]))) == cursor)
        #expect(Cursor(encoded: byRotating, keys: try #require(CursorKeys([old]))) == nil)
        #expect(Cursor(encoded: byOld, keys: try #require(CursorKeys([new]))) == nil)
    }

    @Test("keys shorter than 32 bytes are refused")
    func shortKeys() {
        #expect(CursorKeys([]) == nil)
        #expect(CursorKeys([String(repeating: "k", count: 31)]) == nil)
        #expect(CursorKeys([String(repeating: "k", count: 32), "short"]) == nil)
    }

    @Test("cursors longer than 2048 characters are rejected before decoding")
    func tooLong() {
        let long = Cursor(sort: "name", value: String(repeating: "x", count: 2000), id: id)
        #expect(long.encoded(with: keys).utf8.count > 2048)
        #expect(Cursor(encoded: long.encoded(with: keys), keys: keys) == nil)
    }
}

@Suite("TRELLIS_CURSOR_KEYS")
struct CursorKeysConfigurationTests {
    private let good = String(repeating: "a", count: 32)

    @Test("unset or empty: no keys and no problem (the server makes a random key)")
    func unset() {
        var problems: [String] = []
        #expect(CursorKeys.fromEnvironment([:], problems: &problems) == nil)
        #expect(CursorKeys.fromEnvironment(["TRELLIS_CURSOR_KEYS": ""], problems: &problems) == nil)
        #expect(problems.isEmpty)
    }

    @Test("a comma-separated list of long keys is accepted; the first signs")
    func list() throws {
        var problems: [String] = []
        let second = String(repeating: "b", count: 64)
        let keys = try #require(CursorKeys.fromEnvironment(["TRELLIS_CURSOR_KEYS": good + ", " + second + " "], problems: &problems))
        #expect(problems.isEmpty)
        let cursor = Cursor(sort: "name", value: "x", id: UUID.v7())
        #expect(Cursor(encoded: cursor.encoded(with: keys), keys: try #require(CursorKeys([good]))) == cursor)
        #expect(Cursor(encoded: cursor.encoded(with: try #require(CursorKeys([second]))), keys: keys) == cursor)
    }

    @Test("a short or empty key is a start-up problem that never echoes the key", arguments: [
        "too-short-secret", "\(String(repeating: "a", count: 32)),", "\(String(repeating: "a", count: 32)),too-short-secret",
    ])
    func invalid(_ value: String) {
        var problems: [String] = []
        _ = CursorKeys.fromEnvironment(["TRELLIS_CURSOR_KEYS": value], problems: &problems)
        #expect(problems.count == 1)
        #expect(problems.allSatisfy { $0.hasPrefix("TRELLIS_CURSOR_KEYS") && !$0.contains("too-short-secret") && !$0.contains(good) })
    }

    /// Keeps what is logged, for the start-up warning.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
    }

    @Test("without keys the server warns, without any key in the line, that cursors will not outlive it; with keys it is quiet")
    func startUpWarning() throws {
        let captured = Lines()
        let logger = Logger(label: "test") { _ in Handler(sink: captured) }
        _ = CursorKeys.forServer(nil, logger: logger)
        let warned = captured.lines.withLock { $0 }
        #expect(warned.count == 1)
        #expect(warned.first?.hasPrefix("warning TRELLIS_CURSOR_KEYS is not set") == true)
        #expect(warned.first?.contains("restart") == true && warned.first?.contains("other instances") == true)
        _ = CursorKeys.forServer(CursorKeys([good]), logger: logger)
        #expect(captured.lines.withLock { $0.count } == 1)
    }

    struct Handler: LogHandler {
        let sink: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { sink.lines.withLock { $0.append("\(event.level) \(event.message)") } }
    }

    @Test("the server configuration reports a bad key with the other problems")
    func serverConfiguration() {
        #expect(throws: ServerConfiguration.Invalid.self) {
            try ServerConfiguration.fromEnvironment(["DATABASE_URL": "postgres://u:p@localhost:5432/db", "TRELLIS_CURSOR_KEYS": "short"])
        }
        let configuration = try? ServerConfiguration.fromEnvironment(
            ["DATABASE_URL": "postgres://u:p@localhost:5432/db", "TRELLIS_CURSOR_KEYS": good])
        #expect(configuration?.cursorKeys != nil)
    }
}

@Suite("Cursor values are type-checked against their column")
struct CursorValueTests {
    @Test("values Postgres prints are accepted", arguments: [
        ("timestamptz", "2026-01-31 09:30:00.123456+00"), ("timestamptz", "2026-01-31 09:30:00+05:30"),
        ("timestamptz", "1850-01-01 00:00:00+00:53:28"), ("timestamptz", "0044-03-15 12:00:00+00 BC"),
        ("timestamptz", "2024-02-29 00:00:00-03"), ("timestamptz", "12026-01-01 00:00:00+00"), ("timestamptz", "infinity"),
        ("timestamptz", "-infinity"), ("date", "2026-01-31"), ("date", "0001-01-01 BC"), ("bigint", "-9223372036854775808"),
        ("double precision", "0.1"), ("double precision", "-1.5e-07"), ("double precision", "1e+300"), ("double precision", "Infinity"),
        ("double precision", "NaN"), ("double precision", "0"), ("real", "0.0607927"), ("real", "3.4028235e+38"), ("real", "0"),
        ("boolean", "true"), ("boolean", "false"), ("uuid", "0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"), ("text", "café ☕"), ("text", ""),
    ])
    func accepted(_ sqlType: String, _ text: String) {
        #expect(CursorValue.isValid(text, sqlType: sqlType))
    }

    @Test("values Postgres would refuse, or that overflow, are rejected", arguments: [
        ("timestamptz", "not a time"), ("timestamptz", "99999999-01-01 00:00:00+00"), ("timestamptz", "294276-12-31 23:59:59+00"),
        ("timestamptz", "4713-01-01 00:00:00+00 BC"), ("timestamptz", "2026-02-30 00:00:00+00"), ("timestamptz", "2025-02-29 00:00:00+00"),
        ("timestamptz", "2026-13-01 00:00:00+00"), ("timestamptz", "2026-01-01 24:00:00+00"), ("timestamptz", "2026-01-01 00:00:60+00"),
        ("timestamptz", "2026-01-01 00:00:00"), ("timestamptz", "2026-01-01 00:00:00+16"), ("timestamptz", "2026-01-01 00:00:00.1234567+00"),
        ("timestamptz", "2026-01-01 00:00:00+00\u{0}"), ("timestamptz", "2026-01-01T00:00:00Z"), ("timestamptz", "0000-01-01 00:00:00+00"),
        ("timestamptz", "Infinity"), ("timestamptz", ""), ("date", "2026-01-31 00:00:00+00"), ("date", "99999999-01-01"),
        ("bigint", "9223372036854775808"), ("bigint", "1.5"), ("bigint", ""), ("double precision", "1e999"),
        ("double precision", "1e-400"), ("double precision", "inf"), ("double precision", "nan"), ("double precision", "0x1p3"),
        ("double precision", "1."), ("double precision", ".5"), ("double precision", "1e"), ("double precision", "1e+999999"),
        ("double precision", " 1"), ("real", "1e999"), ("real", "1e39"), ("real", "1e-50"), ("real", "Infinity"), ("real", "NaN"),
        ("real", "-"), ("boolean", "t"), ("boolean", "TRUE"), ("uuid", "not-a-uuid"), ("text", "a\u{0}b"), ("jsonb", "{}"),
    ])
    func rejected(_ sqlType: String, _ text: String) {
        #expect(!CursorValue.isValid(text, sqlType: sqlType))
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

    @Test("generated ids are themselves sane, prefixed, lowercase hex, time-ordered and unique")
    func generated() {
        let ids = RequestIDGenerator()
        var seen = Set<String>()
        var previous = ""
        for _ in 0..<1000 {
            let id = ids.next()
            #expect(RequestIDMiddleware.isSane(id))
            #expect(id.hasPrefix("req_"))
            #expect(id.count == 36)
            #expect(id.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) })
            #expect(id > previous, "ids of one generator sort in the order they were made")
            previous = id
            seen.insert(id)
        }
        #expect(seen.count == 1000)
        // Another generator (another instance of the server) draws its own middle digits.
        let other = RequestIDGenerator().next()
        #expect(other.dropFirst(16).prefix(10) != previous.dropFirst(16).prefix(10))
    }

    @Test("the start of a generated id is the time it was made, in Unix milliseconds")
    func generatedTime() throws {
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        let id = RequestIDGenerator().next()
        let after = UInt64(Date().timeIntervalSince1970 * 1000) + 1
        let millis = try #require(UInt64(id.dropFirst(4).prefix(12), radix: 16))
        #expect((before...after).contains(millis))
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

    init(row: SQLRow) throws { throw CancellationError() }

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
    private let keys = CursorKeys.ephemeral()

    private func parse(_ parameters: [(String, String)], search: Bool = false) -> Validated<ListQuery> {
        ListQueryParser.parse(Widget.self, parameters: parameters, limits: PageLimits(), keys: keys, isSearch: search)
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
        guard case let .valid(query) = parse([("cursor", cursor.encoded(with: keys))]) else {
            Issue.record("a cursor for the default sort was rejected")
            return
        }
        #expect(query.cursor == cursor)
        #expect(problems([("cursor", cursor.encoded(with: keys)), ("sort", "name")]).map(\.path) == ["/query/cursor"])
        #expect(problems([("cursor", "garbage")]).map(\.code) == [.format])
        #expect(problems([("cursor", cursor.encoded(with: CursorKeys.ephemeral()))]).map(\.path) == ["/query/cursor"])
    }

    @Test("search requires a non-empty q and pins cursors to the search text")
    func search() throws {
        #expect(problems([], search: true).map(\.code) == [.required])
        #expect(problems([("q", "   ")], search: true).map(\.code) == [.required])
        #expect(problems([("q", "x"), ("sort", "name")], search: true).map(\.code) == [.unknownField])
        let cursor = Cursor(sort: "-rank|agents", value: "0.5", id: UUID.v7())
        guard case let .valid(query) = parse([("q", " agents "), ("cursor", cursor.encoded(with: keys))], search: true) else {
            Issue.record("a search cursor for the same text was rejected")
            return
        }
        #expect(query.search == "agents")
        #expect(problems([("q", "robots"), ("cursor", cursor.encoded(with: keys))], search: true).map(\.path) == ["/query/cursor"])
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

    @Test("a signed cursor whose value does not fit the sort column is rejected", arguments: [
        ("-created_at", "99999999-01-01 00:00:00+00", false), ("-created_at", "2026-01-31", false),
        ("-rank|agents", "1e999", true), ("-rank|agents", "Infinity", true), ("name", "a\u{0}", false),
    ])
    func illTypedCursor(_ sort: String, _ value: String, _ search: Bool) {
        let cursor = Cursor(sort: sort, value: value, id: UUID.v7()).encoded(with: keys)
        var parameters = [("cursor", cursor)]
        if search { parameters.append(("q", "agents")) }
        if sort == "name" { parameters.append(("sort", "name")) }
        #expect(problems(parameters, search: search).map(\.path) == ["/query/cursor"])
    }

    @Test("a NUL in any parameter is a format problem at its path, never passed on", arguments: [
        "q", "is_active", "colour", "limit", "sort", "cursor", "created_after",
    ])
    func nul(_ name: String) {
        let found = problems([(name, "a\u{0}b")], search: name == "q")
        #expect(found.map { "\($0.path) \($0.code)" } == ["/query/\(name) format"])
    }
}
