import Foundation
import Logging

/// A resource's `get` and `list` as the JSON bodies every surface sends, read through the
/// ``ReadCache`` when the schema gives the resource a `cache` policy and Redis is configured.
/// REST and JSON-RPC both call these, so both serve (and fill) the same entries; GraphQL
/// reads only the columns a query selects and always goes to Postgres.
///
/// The caller checks the read scope first: an entry is keyed by workspace only, so only a
/// caller allowed to read the resource in that workspace may reach it.
struct CachedReads<R: Resource>: Sendable {
    let service = ResourceService<R>()
    let pages = PageBodyWriter()
    /// A list's rows as the objects' JSON, written without decoding the models.
    let written = RowShape<WrittenJSON>(written: ColumnProjection(all: R.descriptor))
    /// A `get`'s row as the object's JSON and version, the same way.
    let object = RowShape<WrittenObject>(writtenObjects: R.descriptor)

    /// Stored once, as ``ResourceService`` stores it (why: there).
    private let d = R.descriptor

    /// The object's JSON, tagged with its version.
    func get(_ id: UUID, as identity: Identity, logger: Logger, services: TrellisServices) async throws -> CachedBody {
        guard let cache = services.readCache, let policy = d.cache else {
            return try await loadObject(id, as: identity, logger: logger, services: services)
        }
        let key = CacheKey.object(id, table: d.table, workspace: identity.workspaceID)
        // A hit (the common case) is answered before the closure that reads Postgres is made.
        let probe = await cache.probe(key, policy: policy)
        if case let .fresh(body) = probe { return body }
        return try await cache.complete(key, policy: policy, probe: probe) {
            try await loadObject(id, as: identity, logger: logger, services: services)
        }
    }

    /// The page's JSON (``Page/writeJSON(to:)``), tagged with a hash of it when the resource is cached.
    func list(_ query: ListQuery, as identity: Identity, logger: Logger, services: TrellisServices) async throws -> CachedBody {
        guard let cache = services.readCache, let policy = d.cache else {
            return try await loadPage(query, as: identity, logger: logger, services: services)
        }
        let key = CacheKey.page(query, table: d.table, workspace: identity.workspaceID)
        let probe = await cache.probe(key, policy: policy)
        if case let .fresh(body) = probe { return body }
        return try await cache.complete(key, policy: policy, probe: probe) {
            try await loadPage(query, as: identity, logger: logger, services: services)
        }
    }

    private func loadPage(_ query: ListQuery, as identity: Identity, logger: Logger, services: TrellisServices) async throws -> CachedBody {
        let page = try await services.read(as: identity, logger: logger) { try await service.list(query, shape: written, in: $0) }
        let json = pages.bytes(page)
        return CachedBody(json: json, etag: d.cache == nil ? nil : ETags.contentTag(json), nextCursor: page.nextCursor)
    }

    private func loadObject(_ id: UUID, as identity: Identity, logger: Logger, services: TrellisServices) async throws -> CachedBody {
        let written = try await services.read(as: identity, logger: logger) { try await service.get(id, shape: object, in: $0) }
        return CachedBody(json: written.bytes, etag: ETags.versionTag(written.version))
    }

    static func body(_ object: R) -> CachedBody {
        var w = JSONWriter()
        object.writeJSON(to: &w)
        return CachedBody(json: w.bytes, etag: ETags.versionTag(object.version))
    }
}
