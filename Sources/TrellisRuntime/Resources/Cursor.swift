import Foundation

/// An opaque keyset cursor: the sort it belongs to, the sort value of the last row (as
/// Postgres printed it, so it round-trips exactly) and the last row's id.
///
/// On the wire it is `base64url(JSON).base64url(HMAC-SHA256(JSON))`, signed with the
/// server's ``CursorKeys``: a client can hand back a cursor this API made, never an edited
/// or hand-made one, so nothing a client invents reaches a query through a cursor. The
/// sort value is still type-checked against its column (``CursorValue``) when decoded.
struct Cursor: Sendable, Hashable {
    var sort: String
    var value: String
    var id: UUID

    /// Cursors longer than this are refused before any decoding.
    static let maximumLength = 2048

    /// The signed cursor; clients must treat it as opaque.
    func encoded(with keys: CursorKeys) -> String {
        var w = JSONWriter(capacity: 96)
        w.beginObject()
        w.key("s"); w.value(sort)
        w.key("v"); w.value(value)
        w.key("i"); w.value(id)
        w.endObject()
        return Base64URL.encode(w.bytes) + "." + Base64URL.encode(keys.sign(w.bytes))
    }

    /// Nil for anything that is not a cursor signed by one of `keys`, or whose text holds
    /// a NUL (which no Postgres text value can contain).
    init?(encoded: String, keys: CursorKeys) {
        guard encoded.utf8.count <= Self.maximumLength else { return nil }
        let parts = encoded.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Base64URL.decode(parts[0]), let tag = Base64URL.decode(parts[1]),
            keys.verify(tag, for: payload)
        else { return nil }
        guard let json = try? JSONValue(parsing: payload), case let .object(object) = json,
            case let .string(sort)? = object["s"], case let .string(value)? = object["v"],
            case let .string(idText)? = object["i"], let id = UUID(hyphenated: idText),
            !sort.utf8.contains(0), !value.utf8.contains(0)
        else { return nil }
        self.init(sort: sort, value: value, id: id)
    }

    init(sort: String, value: String, id: UUID) {
        self.sort = sort
        self.value = value
        self.id = id
    }
}
