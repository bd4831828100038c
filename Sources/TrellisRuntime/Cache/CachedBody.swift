import Foundation

/// One cacheable answer as every surface sends it: the JSON body (an object for `get`, the
/// page envelope for `list`), its entity tag and, for a page, the next page's cursor (REST
/// writes it into `Link`). REST sends the bytes as the body, JSON-RPC as the `result`, so a
/// cached answer is never decoded or written again.
public struct CachedBody: Sendable, Hashable {
    public var json: [UInt8]
    /// A quoted entity tag: `"3"` (an object's version) or a page's content hash (only for
    /// pages of cached resources: hashing costs, and an uncached page is never revalidated).
    public var etag: String?
    public var nextCursor: String?

    public init(json: [UInt8], etag: String?, nextCursor: String? = nil) {
        self.json = json
        self.etag = etag
        self.nextCursor = nextCursor
    }
}

extension CachedBody: JSONWritable {
    public func writeJSON(to w: inout JSONWriter) {
        w.raw(json)
    }
}

/// A ``CachedBody`` as stored in Redis, with the generation it was read under and when:
/// `<generation>\n<stored at, ms since 1970>\n<etag or nothing>\n<next cursor or nothing>\n<json>`.
/// Generations, tags and cursors never hold a newline; the JSON may, and comes last.
struct CacheEntry: Sendable, Hashable {
    var generation: [UInt8]
    var storedAtMilliseconds: Int64
    var body: CachedBody

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(generation.count + (body.etag?.utf8.count ?? 0) + (body.nextCursor?.utf8.count ?? 0) + body.json.count + 24)
        bytes += generation
        bytes.append(0x0A)
        bytes += String(storedAtMilliseconds).utf8
        bytes.append(0x0A)
        if let etag = body.etag { bytes += etag.utf8 }
        bytes.append(0x0A)
        if let cursor = body.nextCursor { bytes += cursor.utf8 }
        bytes.append(0x0A)
        bytes += body.json
        return bytes
    }

    /// Nil for anything that is not an entry in this format (an older format, a foreign key).
    init?(decoding bytes: [UInt8]) {
        var fields: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        while fields.count < 4 {
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else { return nil }
            fields.append(bytes[start..<newline])
            start = newline + 1
        }
        guard !fields[0].isEmpty, let stored = Int64(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        generation = Array(fields[0])
        storedAtMilliseconds = stored
        body = CachedBody(
            json: Array(bytes[start...]), etag: fields[2].isEmpty ? nil : String(decoding: fields[2], as: UTF8.self),
            nextCursor: fields[3].isEmpty ? nil : String(decoding: fields[3], as: UTF8.self))
    }

    init(generation: [UInt8], storedAtMilliseconds: Int64, body: CachedBody) {
        self.generation = generation
        self.storedAtMilliseconds = storedAtMilliseconds
        self.body = body
    }
}
