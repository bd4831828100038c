import Hummingbird
import NIOCore
import NIOPosix
import TrellisTestSupport

/// A real HTTP server on 127.0.0.1:`port` serving `router`, for the external peers of tests
/// (webhook receivers, health dependencies, an error tracker). Returns once it accepts
/// connections; cancel the task to stop it.
func startLocalHTTPServer(_ router: Router<BasicRequestContext>, port: Int) async throws -> Task<Void, any Error> {
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: silentLogger)
    let task = Task { try await app.runService(gracefulShutdownSignals: []) }
    try await TrellisTestSupport.eventually("the server on port \(port) to listen", within: .seconds(10)) {
        (try? await canConnect(port: port)) == true
    }
    return task
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func canConnect(port: Int) async throws -> Bool {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
    try await channel.close()
    return true
}
