import Foundation

/// An opaque keyset cursor: the sort it belongs to, the sort value of the last row (as
/// Postgres printed it, so it round-trips exactly) and the last row's id.
struct Cursor: Sendable, Hashable {
    var sort: String
    var value: String
    var id: UUID

    /// base64url of a small JSON object; clients must treat it as opaque.
    var encoded: String {
        var w = JSONWriter(capacity: 96)
        w.beginObject()
        w.key("s"); w.value(sort)
        w.key("v"); w.value(value)
        w.key("i"); w.value(id)
        w.endObject()
        return Base64URL.encode(w.bytes)
    }

    /// Nil for anything that is not a cursor this server made.
    init?(encoded: String) {
        guard encoded.utf8.count <= 2048 else { return nil }
        guard let data = Base64URL.decode(Substring(encoded)), let json = try? JSONValue(parsing: data),
            case let .object(object) = json, case let .string(sort)? = object["s"],
            case let .string(value)? = object["v"], case let .string(idText)? = object["i"],
            let id = UUID(uuidString: idText)
        else { return nil }
        self.init(sort: sort, value: value, id: id)
    }

    init(sort: String, value: String, id: UUID) {
        self.sort = sort
        self.value = value
        self.id = id
    }
}
