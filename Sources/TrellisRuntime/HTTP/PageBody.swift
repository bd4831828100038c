import NIOCore
import Synchronization

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
/// `…/search` answer with, and what the `row-codec` benchmark times. One per route: each
/// body is written into bytes reserved at the size the route's previous body needed per
/// item, so they never grow on the way, then copied once into a body of its exact size.
public struct PageBodyWriter: Sendable {
    private let bytesPerItem = Estimate()

    public init() {}

    /// The page's JSON (``Page/writeJSON(to:)``) as a response body.
    public func body(_ page: Page<some JSONWritable>) -> ByteBuffer {
        writer(page).byteBuffer
    }

    /// The page's JSON (``Page/writeJSON(to:)``).
    public func bytes(_ page: Page<some JSONWritable>) -> [UInt8] {
        writer(page).bytes
    }

    private func writer(_ page: Page<some JSONWritable>) -> JSONWriter {
        let items = page.items.count
        var w = JSONWriter(capacity: min(bytesPerItem.value * items, Self.maximumReserved) + Self.envelopeBytes)
        page.writeJSON(to: &w)
        if items > 0 { bytesPerItem.value = max(16, (w.bytes.count - Self.envelopeBytes) / items + 1) }
        return w
    }

    /// The most reserved up front: one tenant's page of very large objects must not make the
    /// next page, anyone's, reserve its size times the page size.
    static let maximumReserved = 1 << 20

    /// Room for `{"data":[],"next_cursor":…,"has_more":false}` with a cursor.
    static let envelopeBytes = 320

    /// The last body's bytes per item: a hint shared by the route's requests, so relaxed.
    private final class Estimate: Sendable {
        private let bytes = Atomic<Int>(256)

        var value: Int {
            get { bytes.load(ordering: .relaxed) }
            set { bytes.store(newValue, ordering: .relaxed) }
        }
    }
}
