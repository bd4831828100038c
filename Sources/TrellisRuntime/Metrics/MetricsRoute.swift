import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /metrics`: the registry in Prometheus text format. Outside `/v1` and unauthenticated
/// unless `TRELLIS_METRICS_TOKEN` is set, in which case it needs `Authorization: Bearer <token>`.
struct MetricsRoute: Sendable {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    let metrics: TrellisMetrics
    let token: String?

    func register(on router: Router<TrellisRequestContext>) {
        router.get("/metrics") { request, _ in
            try authorize(request)
            metrics.redis.refresh()
            metrics.pipeline.refresh()
            metrics.events.refresh()
            return Response(
                status: .ok, headers: [.contentType: Self.contentType],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        }
    }

    /// With a token configured, the bearer must match it (compared in constant time).
    func authorize(_ request: Request) throws {
        guard let token else { return }
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer ",
            constantTimeEquals(Array(header.utf8.dropFirst(7)), Array(token.utf8))
        else {
            throw Problem.unauthenticated("/metrics needs Authorization: Bearer <TRELLIS_METRICS_TOKEN>", challenge: "Bearer")
        }
    }
}
