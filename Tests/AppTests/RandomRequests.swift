import Foundation
import HTTPTypes
@testable import TrellisRuntime

/// One request the property test sends.
struct RandomRequest: Sendable, CustomStringConvertible {
    var method: HTTPRequest.Method
    var uri: String
    var headers: HTTPFields
    var body: [UInt8]?

    var description: String {
        let text = body.map { String(decoding: $0.prefix(300), as: UTF8.self) } ?? "-"
        return "\(method) \(uri.prefix(400)) headers: \(headers.map { "\($0.name): \($0.value.prefix(80))" }) body: \(text)"
    }
}

/// What the generator knows about the API under test: ids that exist (per resource path),
/// real cursors seen in responses, the keys that sign cursors, and each resource's columns.
struct RequestCorpus: Sendable {
    var idsByPath: [String: [String]] = [:]
    var cursors: [String] = []
    /// Bodies a create accepted, per resource path: the start of single-change bodies.
    var validBodies: [String: [JSONObject]] = [:]
    var cursorKeys: CursorKeys
    var resources: [ResourceDescriptor]
}

/// Builds random, often hostile, requests for a route: path parameters, query strings,
/// headers and bodies (random JSON, wrong types, deep nesting, huge numbers, NUL, unicode,
/// overlong text, invalid UTF-8).
struct RandomRequests {
    var rng: SeededGenerator
    var corpus: RequestCorpus

    // MARK: Building blocks

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }

    /// Nasty text: empty, NUL, huge or special numbers, unicode (decomposed, emoji, RTL,
    /// non-characters), overlong, SQL and JSON meta-characters, Postgres specials.
    mutating func text() -> String {
        switch Int.random(in: 0..<24, using: &rng) {
        case 0: return ""
        case 1: return "a\u{0}b"
        case 2: return "\u{0}"
        case 3: return "1e999"
        case 4: return "-1e999"
        case 5: return "99999999999999999999999999"
        case 6: return "-9223372036854775809"
        case 7: return "NaN"
        case 8: return "infinity"
        case 9: return "cafe\u{301} caf\u{E9} 😀 \u{202E}abc \u{FFFF} \u{10FFFF}"
        case 10: return String(repeating: "x", count: pick([101, 1001, 5000, 70_000]))
        case 11: return "'; DROP TABLE agents; --"
        case 12: return "\"}{\\"
        case 13: return "99999999-01-01T00:00:00Z"
        case 14: return "0000-01-01T00:00:00Z"
        case 15: return "2026-02-30T00:00:00Z"
        case 16: return "2026-01-31T09:30:00Z"
        case 17: return UUID().uuidString.lowercased()
        case 18: return pick(["true", "false", "null", "0", "-0", "1.5", "0x10", "1_000"])
        case 19: return String(Int64.random(in: .min ... .max, using: &rng))
        case 20: return "!&&| (a <-> b) & !!c:* 'unterminated"
        case 21: return String(repeating: "é", count: pick([50, 201]))
        case 22: return pick(["-created_at", "name", "-name", "rank", "-rank", "id", "--name", "created_at,-name"])
        default:
            let length = Int.random(in: 1...40, using: &rng)
            return String((0..<length).map { _ in Character(UnicodeScalar(UInt8.random(in: 0x20...0x7E, using: &rng))) })
        }
    }

    /// Percent-encodes every byte outside the unreserved set.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(UnicodeScalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || "-._~".contains(c) { out.append(c) } else { out += String(format: "%%%02X", byte) }
        }
        return out
    }

    /// A value meant to break whatever reads it: NUL, numbers and dates out of every range,
    /// empty, overlong.
    mutating func hostile() -> String {
        pick([
            "a\u{0}b", "\u{0}", "1e999", "-1e999", "99999999999999999999", "99999999-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
            "", String(repeating: "x", count: 5000), "-1", "NaN", "infinity", text(),
        ])
    }

    /// A cursor for a query sorted as `sortSpelling`: a real one (maybe tampered), one
    /// signed with the server's key, or an unsigned hand-made one (both with a value that is
    /// sometimes plausible, often hostile), or garbage.
    mutating func cursor(sortSpelling: String) -> String {
        let value = chance(30)
            ? pick(["2026-01-31 09:30:00.123456+00", "0.5", "seed", "2026-01-31"])
            : pick(["not a time", "99999999-01-01 00:00:00+00", "2026-01-01 00:00:00+00\u{0}", "1e999", "-1e999", "1e-400", "NaN", "a\u{0}b", "", text()])
        let cursor = Cursor(sort: chance(85) ? sortSpelling : pick(["-created_at", "name", "-id", "-rank|x"]), value: value, id: UUID())
        switch Int.random(in: 0..<10, using: &rng) {
        case 0, 1, 2:
            guard !corpus.cursors.isEmpty else { return cursor.encoded(with: corpus.cursorKeys) }
            var chars = Array(pick(corpus.cursors))
            if chance(30), !chars.isEmpty { chars[Int.random(in: 0..<chars.count, using: &rng)] = pick(["A", "_", "-", "z", "."]) }
            return String(chars)
        case 3, 4, 5: return cursor.encoded(with: corpus.cursorKeys)
        case 6, 7:
            var w = JSONWriter()
            w.beginObject()
            w.key("s"); w.value(cursor.sort)
            w.key("v"); w.value(cursor.value)
            w.key("i"); w.value(cursor.id)
            w.endObject()
            return Base64URL.encode(w.bytes)
        default: return text()
        }
    }

    /// A query string: a plausible query for the route (search text, sort, limit, time
    /// window, a filter, a cursor for that sort), then often one value swapped for a hostile
    /// one, sometimes an unknown or repeated parameter, rarely invalid UTF-8.
    mutating func query(for resource: ResourceDescriptor?, isSearch: Bool) -> String {
        var params: [(String, String)] = []
        var sortSpelling = "-created_at"
        if isSearch {
            let q = pick(["seed", "text", "seed text", "\"seed\" -x", "seed OR agent"])
            params.append(("q", q))
            sortSpelling = "-rank|" + q
        } else if let resource, chance(40) {
            let spelling = (chance(50) ? "-" : "") + pick(resource.sortKeys)
            params.append(("sort", spelling))
            sortSpelling = spelling
        }
        if chance(40) { params.append(("limit", String(Int.random(in: 1...100, using: &rng)))) }
        if !isSearch, chance(25) {
            params.append((pick(["created_after", "created_before"]), pick(["2026-01-31T09:30:00Z", "2000-01-01T00:00:00+05:30"])))
        }
        if !isSearch, let column = resource?.columns.randomElement(using: &rng), chance(30) {
            params.append((column.name, plainValue(forSQLType: column.sqlType)))
        }
        if chance(50) { params.append(("cursor", cursor(sortSpelling: sortSpelling))) }
        if !params.isEmpty, chance(50) { params[Int.random(in: 0..<params.count, using: &rng)].1 = hostile() }
        if chance(10) { params.append((pick(["unknown", "q", "sort", text()]), text())) }
        if !params.isEmpty, chance(5) { params.append(pick(params)) }
        var parts = params.map { Self.percentEncoded($0.0) + "=" + Self.percentEncoded($0.1) }
        if chance(3) { parts.append("%FF%FE=%C3%28") }  // invalid UTF-8
        return parts.joined(separator: "&")
    }

    /// A filter value as text that fits the column's type.
    mutating func plainValue(forSQLType type: String) -> String {
        switch type {
        case "bigint": return pick(["0", "7", "-1"])
        case "double precision": return pick(["0.7", "1"])
        case "boolean": return pick(["true", "false"])
        case "uuid": return corpus.idsByPath.values.flatMap { $0 }.randomElement(using: &rng) ?? UUID().uuidString
        default: return pick(["seed", "user", "claude", "caf\u{E9}"])
        }
    }

    /// A path parameter: an id that exists, a random UUID, or garbage.
    mutating func pathParameter(resourcePath: String?) -> String {
        let known = resourcePath.flatMap { corpus.idsByPath[$0] } ?? []
        let roll = Int.random(in: 0..<4, using: &rng)
        if roll < 2, !known.isEmpty { return pick(known) }
        return roll == 2 ? UUID().uuidString.lowercased() : Self.percentEncoded(text())
    }

    // MARK: JSON

    /// A random JSON value, `depth` levels at most.
    mutating func json(depth: Int) -> JSONValue {
        let top = depth <= 0 ? 5 : 8
        switch Int.random(in: 0..<top, using: &rng) {
        case 0: return .null
        case 1: return .bool(chance(50))
        case 2: return .integer(pick([0, -1, 1, .max, .min, Int64.random(in: .min ... .max, using: &rng)]))
        case 3: return .double(pick([0.5, -0.0, 1e308, -1e308, .leastNonzeroMagnitude, 1e19, 2.5]))
        case 4: return .string(text())
        case 5, 6:
            var object = JSONObject()
            for _ in 0..<Int.random(in: 0...4, using: &rng) { object.members.append(JSONObject.Member(key: text(), value: json(depth: depth - 1))) }
            return .object(object)
        default: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in json(depth: depth - 1) })
        }
    }

    /// A value that fits a column's SQL type more often than not, or anything.
    mutating func value(forSQLType type: String) -> JSONValue {
        if chance(25) { return json(depth: 2) }
        switch type {
        case "text": return .string(text())
        case "bigint": return .integer(pick([0, 1, -1, .max, .min]))
        case "double precision": return .double(pick([0.7, 1.5, 2.0, 1e308, -1e-300]))
        case "boolean": return .bool(chance(50))
        case "uuid":
            let ids = corpus.idsByPath.values.flatMap { $0 }
            return .string(ids.isEmpty || chance(30) ? UUID().uuidString : pick(ids))
        case "timestamptz": return .string(pick(["2026-01-31T09:30:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", text()]))
        case "date": return .string(pick(["2026-01-31", "0000-01-01", "9999-12-31", text()]))
        case "jsonb": return json(depth: 3)
        default: return .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in .string(text()) })
        }
    }

    /// A request body: an object over the resource's columns, random JSON, deep nesting,
    /// huge numbers, invalid UTF-8, or not JSON at all.
    mutating func body(for resource: ResourceDescriptor?) -> [UInt8] {
        if let resource, let valid = corpus.validBodies[resource.path], !valid.isEmpty, chance(40) {
            // One change to a body that was accepted: a field set to another value or removed.
            var object = pick(valid)
            if let column = resource.columns.randomElement(using: &rng) {
                object.members.removeAll { $0.key == column.name }
                if chance(80) {
                    object.members.append(JSONObject.Member(key: column.name, value: chance(50) ? value(forSQLType: column.sqlType) : .string(hostile())))
                }
            }
            var w = JSONWriter()
            w.value(.object(object))
            return w.bytes
        }
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return Array(String(repeating: "[", count: pick([600, 20_000])).utf8) + Array(String(repeating: "]", count: 10).utf8)
        case 1: return Array(#"{"name":1e999,"n":123456789012345678901234567890,"x":-0.0e-99999}"#.utf8)
        case 2: return [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]  // {"\xFF\xFE":1}
        case 3: return Array(pick(["", "null", "[]", "\"s\"", "{", "{\"a\":\"\\u0000\"}", "{\"name\":\"\\ud800\"}", "not json"]).utf8)
        case 4:
            var w = JSONWriter()
            w.value(json(depth: 4))
            return w.bytes
        default:
            var object = JSONObject()
            for column in resource?.columns.shuffled(using: &rng).prefix(Int.random(in: 0...6, using: &rng)) ?? [] {
                object.members.append(JSONObject.Member(key: column.name, value: value(forSQLType: column.sqlType)))
            }
            if chance(20) { object.members.append(JSONObject.Member(key: text(), value: json(depth: 1))) }
            var w = JSONWriter()
            w.value(.object(object))
            return w.bytes
        }
    }

    // MARK: Requests

    /// A random request for `method path` (a route template with `{name}` captures).
    mutating func request(_ method: HTTPRequest.Method, _ path: RouterPathTemplate) -> RandomRequest {
        let resource = corpus.resources.first { $0.path == path.resourcePath }
        var uri = ""
        for component in path.components {
            uri += "/" + (component.isParameter ? pathParameter(resourcePath: path.resourcePath) : component.text)
        }
        if uri.isEmpty { uri = "/" }
        let query = query(for: resource, isSearch: path.components.last?.text == "search")
        if !query.isEmpty { uri += "?" + query }
        var headers = HTTPFields()
        if chance(80) || method == .post || method == .patch || method == .put {
            headers[.contentType] = pick(["application/json", "application/json", "application/merge-patch+json", "text/plain", "application/json; charset=latin1"])
        }
        if chance(15) { headers[.ifMatch] = pick(["\"1\"", "*", "W/\"999999999999999999999\"", "\"-1\"", text()]) }
        if chance(10) { headers[.ifNoneMatch] = pick(["\"1\"", "*", text()]) }
        if chance(15) { headers[HTTPField.Name("Idempotency-Key")!] = pick([UUID().uuidString, "", String(repeating: "k", count: 300), "key"]) }
        let body: [UInt8]? = method == .get || method == .head || chance(10) ? nil : body(for: resource)
        return RandomRequest(method: method, uri: uri, headers: headers, body: body)
    }
}

/// A route template as the router lists it: `/v1/agents/{id}`.
struct RouterPathTemplate: Sendable {
    struct Component: Sendable {
        var text: String
        /// A capture (`{id}`) or wildcard (`*`, `**`): filled in by the generator.
        var isParameter: Bool
    }

    var components: [Component]

    init(_ description: String) {
        components = description.split(separator: "/").map { part in
            let isParameter = (part.hasPrefix("{") && part.hasSuffix("}")) || part.contains("*")
            return Component(text: String(part), isParameter: isParameter)
        }
    }

    /// The resource path segment after `/v1` (`agents`), when there is one.
    var resourcePath: String? {
        guard components.count >= 2, components[0].text == "v1", !components[1].isParameter else { return nil }
        return components[1].text
    }
}
