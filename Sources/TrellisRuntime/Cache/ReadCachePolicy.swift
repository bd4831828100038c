/// How long a resource's cached `get` and `list` answers stay fresh: the schema's
/// `cache: { ttl, stale_while_revalidate }`.
///
/// Freshness here is only about writes Trellis does not see (SQL run by hand, another
/// program): every write through Trellis moves the resource's generation, and an entry of an
/// older generation is never served (``ReadCache``). Up to `ttl` after it was stored an entry
/// is served as it is; for `staleWhileRevalidate` more it is still served, while one
/// background read replaces it; after that it is gone.
public struct ReadCachePolicy: Sendable, Hashable {
    public var ttl: Duration
    public var staleWhileRevalidate: Duration

    public init(ttlSeconds: Int, staleWhileRevalidateSeconds: Int = 0) {
        ttl = .seconds(max(1, ttlSeconds))
        staleWhileRevalidate = .seconds(max(0, staleWhileRevalidateSeconds))
    }

    /// How long Redis keeps an entry: fresh plus stale.
    var lifetime: Duration { ttl + staleWhileRevalidate }
}
