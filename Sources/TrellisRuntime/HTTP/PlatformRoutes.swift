import HTTPTypes
import Foundation
import Hummingbird
import TrellisRedis
import NIOCore
import PostgresNIO

/// `/health/*`, `/openapi.{json,yaml}` and `/docs`: unauthenticated platform endpoints.
struct PlatformRoutes: Sendable {
    let services: TrellisServices
    let openAPIJSON: ByteBuffer
    let openAPIYAML: ByteBuffer
    let swaggerUIDirectory: String?
    /// Where GraphiQL's assets are served from (`TRELLIS_GRAPHIQL_DIR`); nil: a CDN.
    var graphiQLDirectory: String? = nil

    func register(on router: Router<TrellisRequestContext>) {
        registerHealth(on: router)
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: openAPIJSON))
        }
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: openAPIYAML))
        }
        router.get("/docs") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: SwaggerUI.page(assetBase: swaggerUIDirectory == nil ? SwaggerUI.cdn : "/docs/assets"))))
        }
        if let directory = swaggerUIDirectory {
            router.get("/docs/assets/:file") { _, context in
                try serveAsset(directory: directory, name: context.parameters.get("file") ?? "")
            }
        }
        router.get("/graphiql") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: GraphiQLPage.page(assetBase: graphiQLDirectory == nil ? nil : "/graphiql/assets"))))
        }
        if let directory = graphiQLDirectory {
            router.get("/graphiql/assets/:file") { _, context in
                try serveAsset(directory: directory, name: context.parameters.get("file") ?? "")
            }
        }
    }

    /// `/health/live` and `/health/ready` (what a worker process serves too).
    func registerHealth(on router: Router<TrellisRequestContext>) {
        router.get("/health/live") { _, _ in JSONResponse.make(.ok, Array(#"{"status":"ok"}"#.utf8)) }
        router.get("/health/ready") { _, context in try await ready(context) }
    }

    /// A probe slower than this reports its dependency `degraded`.
    static let slowProbe: Duration = .seconds(1)
    /// A queue whose oldest runnable job has waited longer than this is `degraded` (the
    /// TrellisQueueBacklog alert's threshold).
    static let queueBacklogSeconds = 300.0

    /// Every dependency with its status (`ok`, `degraded`, `down`) and latency: Postgres (down ->
    /// 503 `down`), Redis when configured (down -> 200 `degraded`: rate limits per instance,
    /// every read from Postgres), the job queue when the API has job types (with the age of the
    /// oldest runnable job; `degraded` past ``queueBacklogSeconds``), and api.yaml's
    /// `dependencies` as their background prober last saw them (never probed here). Any check not
    /// `ok` makes the whole `degraded`, except a queue backlog.
    func ready(_ context: TrellisRequestContext) async throws -> Response {
        let postgres = await Self.check {
            _ = try await services.postgres.rows("SELECT 1", logger: context.logger)
        }
        let redis = if let client = services.rateLimiter?.redisClient ?? services.readCache?.redis {
            await Self.check { _ = try await client.send("PING") }
        } else { nil as (ok: Bool, millis: Double, found: Void?)? }
        // The age of the oldest job waiting for a worker (0 when none waits).
        let queue = services.jobs.definitions.isEmpty ? nil : await Self.check { [services] in
            try await services.postgres.withConnection(leaseTimeout: services.timeouts.poolLease) { connection in
                try await connection.rows(PostgresQuery(unsafeSQL: "SELECT trellis_jobs_oldest_available_age()"), logger: context.logger)
                    .decode(Double.self).first ?? 0
            }
        }
        let slow = Double(Self.slowProbe / .milliseconds(1))
        func status(_ ok: Bool, _ millis: Double, degraded: Bool = false) -> String {
            !ok ? "down" : (millis > slow || degraded) ? "degraded" : "ok"
        }
        let results: [(String, (ok: Bool, millis: Double)?)] = [
            ("postgres", (postgres.ok, postgres.millis)), ("redis", redis.map { ($0.ok, $0.millis) }), ("queue", queue.map { ($0.ok, $0.millis) }),
        ]
        let checks = results.compactMap { name, result in
            result.map { (name, $0, status($0.ok, $0.millis, degraded: name == "queue" && (queue?.found ?? 0) > Self.queueBacklogSeconds)) }
        }
        let dependencies = services.dependencyHealth?.snapshot
        // A backlog degrades the queue's own check, not the instance: it is the workers' to fix
        // (TrellisQueueBacklog pages for it), and an orchestrator should not act on it here.
        let statuses = checks.map { $0.0 == "queue" && $0.2 == "degraded" ? "ok" : $0.2 }
            + (dependencies ?? []).map(\.1.status).filter { $0 != .unknown }.map(\.rawValue)
        var w = JSONWriter()
        w.beginObject()
        w.key("status"); w.value(!postgres.ok ? "down" : statuses.allSatisfy { $0 == "ok" } ? "ok" : "degraded")
        w.key("checks")
        w.beginObject()
        for (name, result, state) in checks {
            w.key(name)
            w.beginObject()
            w.key("status"); w.value(state)
            w.key("latency_ms"); w.value((result.millis * 100).rounded() / 100)
            if name == "queue", let age = queue?.found {
                w.key("oldest_available_age_seconds"); w.value((age * 100).rounded() / 100)
            }
            w.endObject()
        }
        if let dependencies {
            w.key("dependencies")
            w.beginObject()
            for (dependency, probe) in dependencies {
                w.key(dependency.name)
                w.beginObject()
                w.key("status"); w.value(probe.status.rawValue)
                if let latency = probe.latency {
                    w.key("latency_ms"); w.value((Double(latency / .microseconds(1)) / 10).rounded() / 100)
                }
                if let code = probe.httpStatus { w.key("http_status"); w.value(Int64(code)) }
                if let error = probe.error { w.key("error"); w.value(error) }
                if let checkedAt = probe.checkedAt { w.key("checked_at"); w.value(checkedAt) }
                w.endObject()
            }
            w.endObject()
        }
        w.endObject()
        w.endObject()
        var headers = HTTPFields()
        if !postgres.ok { headers[.retryAfter] = "5" }
        return JSONResponse.make(postgres.ok ? .ok : .serviceUnavailable, w.bytes, headers: headers)
    }

    /// Runs `probe` for at most 2 s: whether it succeeded, how long it took, and what it found.
    static func check<Found: Sendable>(
        _ probe: @escaping @Sendable () async throws -> Found
    ) async -> (ok: Bool, millis: Double, found: Found?) {
        let start = ContinuousClock.now
        var found: Found?
        do {
            found = try await withThrowingTaskGroup(of: Found.self) { group in
                group.addTask { try await probe() }
                group.addTask {
                    try await Task.sleep(for: .seconds(2))
                    throw CancellationError()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            found = nil
        }
        let elapsed = ContinuousClock.now - start
        return (found != nil, Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15, found)
    }

    func serveAsset(directory: String, name: String) throws -> Response {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix("."),
            let data = FileManager.default.contents(atPath: directory + "/" + name)
        else { throw Problem.notFound("No such documentation asset") }
        let type = name.hasSuffix(".css") ? "text/css" : name.hasSuffix(".js") ? "application/javascript" : "application/octet-stream"
        return Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The Swagger UI page; assets from a CDN by default or from `TRELLIS_SWAGGER_UI_DIR`.
enum SwaggerUI {
    static let cdn = "https://unpkg.com/swagger-ui-dist@5"

    static func page(assetBase: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>API documentation</title>
          <link rel="stylesheet" href="\(assetBase)/swagger-ui.css">
        </head>
        <body>
          <div id="swagger-ui"></div>
          <script src="\(assetBase)/swagger-ui-bundle.js"></script>
          <script>
            window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
          </script>
        </body>
        </html>
        """
    }
}

/// GraphiQL for `/v1/graphql`; assets from a CDN by default or from `TRELLIS_GRAPHIQL_DIR`
/// (`react.production.min.js`, `react-dom.production.min.js`, `graphiql.min.js`,
/// `graphiql.min.css`). A key in the page's fragment (`/graphiql#key=trk_…`, which
/// `scripts/dev` prints) fills the `Authorization` header; a fragment never reaches the server.
enum GraphiQLPage {
    static func page(assetBase: String?) -> String {
        let react = assetBase.map { "\($0)/react.production.min.js" } ?? "https://unpkg.com/react@18/umd/react.production.min.js"
        let reactDOM = assetBase.map { "\($0)/react-dom.production.min.js" } ?? "https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"
        let script = assetBase.map { "\($0)/graphiql.min.js" } ?? "https://unpkg.com/graphiql@3/graphiql.min.js"
        let style = assetBase.map { "\($0)/graphiql.min.css" } ?? "https://unpkg.com/graphiql@3/graphiql.min.css"
        return """
            <!doctype html>
            <html lang="en">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>GraphiQL</title>
              <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
              <link rel="stylesheet" href="\(style)">
            </head>
            <body>
              <div id="graphiql">Loading GraphiQL…</div>
              <script crossorigin src="\(react)"></script>
              <script crossorigin src="\(reactDOM)"></script>
              <script crossorigin src="\(script)"></script>
              <script>
                const key = new URLSearchParams(window.location.hash.slice(1)).get("key");
                const headers = JSON.stringify({ Authorization: "Bearer " + (key || "<paste the api_key scripts/dev printed>") }, null, 2);
                // GraphiQL 1 (React 17, `headers`) to 3 (React 18, `defaultHeaders`), so any local copy works.
                const element = React.createElement(GraphiQL, {
                  fetcher: GraphiQL.createFetcher({ url: "/v1/graphql" }),
                  defaultHeaders: headers, headers: headers, headerEditorEnabled: true,
                  shouldPersistHeaders: false,
                  defaultQuery: "{\\n  agents(first: 5) {\\n    edges { node { id name model } }\\n  }\\n}\\n",
                });
                const root = document.getElementById("graphiql");
                if (ReactDOM.createRoot) { ReactDOM.createRoot(root).render(element); } else { ReactDOM.render(element, root); }
              </script>
            </body>
            </html>
            """
    }
}
