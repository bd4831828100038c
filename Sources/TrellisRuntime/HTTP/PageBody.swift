import NIOCore

extension Page: JSONWritable where Item: JSONWritable {
    /// `{"data":[…],"next_cursor":…,"has_more":…}`: the body of a list or search response.
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("data")
        w.beginArray()
        for item in items { item.writeJSON(to: &w) }
        w.endArray()
        w.key("next_cursor")
        if let nextCursor { w.value(nextCursor) } else { w.null() }
        w.key("has_more")
        w.value(hasMore)
        w.endObject()
    }
}

extension Ranked: JSONWritable {
    /// The object's members, then `"rank"`.
    public func writeJSON(to w: inout JSONWriter) {
        item.writeJSON(to: &w)
        w.reopenObject()
        w.key("rank")
        w.value(rank)
        w.endObject()
    }
}

/// Writes the bodies of list and search responses: what `GET /v1/<resource>` and
/// `…/search` answer with, and what the `row-codec` benchmark times.
public struct PageBodyWriter: Sendable {
    public init() {}

    /// The page's JSON (``Page/writeJSON(to:)``) as a response body.
    public func body(_ page: Page<some JSONWritable>) -> ByteBuffer {
        var w = JSONWriter(capacity: 256 * max(page.items.count, 1))
        page.writeJSON(to: &w)
        return ByteBuffer(bytes: w.bytes)
    }
}
