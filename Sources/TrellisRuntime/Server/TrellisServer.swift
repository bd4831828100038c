import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO

/// Assembles the HTTP application from the generated ``APIDefinition`` and the shared services.
public enum TrellisServer {
    /// The router with every platform and `/v1` route; middleware order: request id,
    /// request log, problem boundary.
    public static func makeRouter(
        api: APIDefinition, services: TrellisServices, swaggerUIDirectory: String? = nil
    ) -> Router<TrellisRequestContext> {
        let router = Router(context: TrellisRequestContext.self)
        router.addMiddleware {
            RequestIDMiddleware()
            RequestLogMiddleware()
            ProblemMiddleware()
        }
        PlatformRoutes(
            services: services, openAPIJSON: ByteBuffer(string: api.openAPIJSON),
            openAPIYAML: ByteBuffer(string: api.openAPIYAML), swaggerUIDirectory: swaggerUIDirectory
        ).register(on: router)
        let v1 = router.group("v1")
        for resource in api.resources {
            resource.register(v1, services)
        }
        return router
    }

    /// The server process: Postgres pool first, HTTP last, so shutdown drains HTTP first.
    public static func makeApplication(
        api: APIDefinition, configuration: ServerConfiguration, logger: Logger
    ) throws -> some ApplicationProtocol {
        var pgConfig = try DatabaseURL(configuration.databaseURL).clientConfiguration
        pgConfig.options.maximumConnections = 40
        let postgres = PostgresClient(configuration: pgConfig, backgroundLogger: logger)
        let services = TrellisServices(
            postgres: postgres, maxBodySize: api.maxBodySize, pageLimits: api.pageLimits,
            defaultWorkspace: configuration.workspaceID)
        let router = makeRouter(api: api, services: services, swaggerUIDirectory: configuration.swaggerUIDirectory)
        var app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Trellis"),
            logger: logger)
        app.addServices(postgres)
        return app
    }
}
