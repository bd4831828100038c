import Crypto
import Foundation

/// Where one cacheable answer lives in Redis, and the generation it must match.
///
/// Every key starts with the workspace as a Redis Cluster hash tag, so a workspace's
/// generations and entries share one shard and one script may touch them together:
/// - generation: `{<workspace>}:c:<table>:gen`
/// - an object:  `{<workspace>}:c:<table>:o:<id>`
/// - a page:     `{<workspace>}:c:<table>:l:<hash of the normalised query>`
struct CacheKey: Sendable, Hashable {
    var generation: String
    var entry: String

    static func generation(workspace: UUID, table: String) -> String {
        "{" + workspace.lowercasedString + "}:c:" + table + ":gen"
    }

    static func object(_ id: UUID, table: String, workspace: UUID) -> CacheKey {
        let prefix = "{" + workspace.lowercasedString + "}:c:" + table
        return CacheKey(generation: prefix + ":gen", entry: prefix + ":o:" + id.lowercasedString)
    }

    static func page(_ query: ListQuery, table: String, workspace: UUID) -> CacheKey {
        let prefix = "{" + workspace.lowercasedString + "}:c:" + table
        return CacheKey(generation: prefix + ":gen", entry: prefix + ":l:" + query.cacheDigest)
    }
}

extension ListQuery {
    /// The hex of the first 128 bits of SHA-256 over ``normalisedText``: two queries that read
    /// the same rows in the same order share it, whatever order or spelling the client used.
    var cacheDigest: String {
        SHA256.hexPrefix(of: Array(normalisedText.utf8))
    }

    /// Everything that decides a page, in a fixed order: size, sort, time window, filters
    /// (sorted by column), search text and the cursor's position (not its signed text, which
    /// changes when the cursor keys rotate). Client text is length-prefixed, so no value can
    /// pass for a separator or for the next field.
    var normalisedText: String {
        var parts = ["limit=\(limit)", "sort=" + Self.field(sortSpelling)]
        if let createdAfter { parts.append("after=\(createdAfter.timeIntervalSince1970.bitPattern)") }
        if let createdBefore { parts.append("before=\(createdBefore.timeIntervalSince1970.bitPattern)") }
        for condition in conditions.sorted(by: { $0.column < $1.column }) {
            parts.append("f:" + condition.column + "=" + Self.field(condition.value.canonicalText))
        }
        if let search { parts.append("q=" + Self.field(search)) }
        if let cursor { parts.append("cursor=" + Self.field(cursor.sort) + Self.field(cursor.value) + cursor.id.lowercasedString) }
        return parts.joined(separator: "\u{1F}")
    }

    /// `<utf-8 length>:<text>`: no text can be mistaken for a separator or the next field.
    private static func field(_ text: String) -> String { "\(text.utf8.count):" + text }
}

extension SHA256 {
    /// The first 128 bits of the SHA-256 of `bytes`, as 32 lowercase hex digits: a cache key's
    /// query part and a page's entity tag.
    static func hexPrefix(of bytes: [UInt8]) -> String {
        let digest = hash(data: bytes)
        var hex = ""
        hex.reserveCapacity(32)
        for byte in digest.prefix(16) {
            hex.append(hexDigits[Int(byte >> 4)])
            hex.append(hexDigits[Int(byte & 0x0F)])
        }
        return hex
    }

    private static let hexDigits = Array("0123456789abcdef")
}

extension SQLValue {
    /// One spelling per value, type included: `t5:hello`, `i42`, `d<bit pattern>`, `u<uuid>`.
    var canonicalText: String {
        func text(_ s: String) -> String { "t\(s.utf8.count):" + s }
        switch self {
        case .null: return "n"
        case let .text(v): return text(v)
        case let .integer(v): return "i\(v)"
        case let .double(v): return "d\(v.bitPattern)"
        case let .bool(v): return v ? "b1" : "b0"
        case let .uuid(v): return "u" + v.lowercasedString
        case let .timestamp(v): return "s\(v.timeIntervalSince1970.bitPattern)"
        case let .json(v):
            var w = JSONWriter()
            w.value(v)
            return "j" + text(String(decoding: w.bytes, as: UTF8.self))
        case let .textArray(v): return "[" + v.map(text).joined(separator: ",") + "]"
        case let .integerArray(v): return "[" + v.map { "i\($0)" }.joined(separator: ",") + "]"
        case let .doubleArray(v): return "[" + v.map { "d\($0.bitPattern)" }.joined(separator: ",") + "]"
        case let .boolArray(v): return "[" + v.map { $0 ? "b1" : "b0" }.joined(separator: ",") + "]"
        case let .uuidArray(v): return "[" + v.map { "u" + $0.lowercasedString }.joined(separator: ",") + "]"
        }
    }
}
