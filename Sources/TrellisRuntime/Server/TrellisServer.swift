import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO

/// Assembles the HTTP application from the generated ``APIDefinition`` and the shared services.
public enum TrellisServer {
    /// The router with every platform and `/v1` route; middleware order: request id,
    /// request metrics, request log, problem boundary. `/metrics` needs `metricsToken` as a
    /// bearer when one is given.
    public static func makeRouter(
        api: APIDefinition, services: TrellisServices, swaggerUIDirectory: String? = nil, metricsToken: String? = nil
    ) -> Router<TrellisRequestContext> {
        let router = Router(context: TrellisRequestContext.self)
        router.addMiddleware {
            RequestIDMiddleware()
            HTTPMetricsMiddleware(metrics: services.metrics.http)
            RequestLogMiddleware()
            ProblemMiddleware(problems: services.metrics.problems)
        }
        MetricsRoute(metrics: services.metrics, token: metricsToken).register(on: router)
        PlatformRoutes(
            services: services, openAPIJSON: ByteBuffer(string: api.openAPIJSON),
            openAPIYAML: ByteBuffer(string: api.openAPIYAML), swaggerUIDirectory: swaggerUIDirectory
        ).register(on: router)
        let v1 = router.group("v1").add(
            middleware: AuthenticationMiddleware(authenticator: services.authenticator, failures: services.metrics.authFailures))
        for resource in api.resources {
            resource.register(v1, services)
        }
        APIKeyRoutes(services: services).register(on: v1)
        AdminRoutes(services: services).register(on: v1)
        return router
    }

    /// The server process: Postgres pool first, HTTP last, so shutdown drains HTTP first.
    public static func makeApplication(
        api: APIDefinition, configuration: ServerConfiguration, metrics: TrellisMetrics = TrellisMetrics(), logger: Logger
    ) async throws -> some ApplicationProtocol {
        var jwt: JWTAuthenticator?
        if let jwtConfiguration = configuration.jwt { jwt = try await JWTAuthenticator(jwtConfiguration) }
        var pgConfig = try DatabaseURL(configuration.databaseURL).clientConfiguration
        pgConfig.options.maximumConnections = 40
        let postgres = PostgresClient(configuration: pgConfig, backgroundLogger: logger)
        let services = TrellisServices(api: api, postgres: postgres, jwt: jwt, metrics: metrics)
        metrics.pool.setMaximumConnections(pgConfig.options.maximumConnections)
        let router = makeRouter(
            api: api, services: services, swaggerUIDirectory: configuration.swaggerUIDirectory,
            metricsToken: configuration.metricsToken)
        var app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Trellis"),
            logger: logger)
        app.addServices(postgres, APIKeyCacheRefresher(postgres: postgres, cache: services.authenticator.keyCache, logger: logger))
        return app
    }
}
