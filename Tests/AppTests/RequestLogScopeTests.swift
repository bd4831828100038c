import Foundation
import HTTPTypes
import Hummingbird
import Testing
@testable import TrellisRuntime

/// Every log line written while a request runs names it (``RequestLogScope``): the request
/// id middleware binds the id, the authentication middleware the caller, for the request's
/// task and its child tasks.
@Suite("Each request's log lines name the request and its caller")
struct RequestLogScopeTests {
    @Test func theHandlersTaskAndItsChildTasksSeeTheRequestIdAndOnceAuthenticatedTheCaller() async throws {
        try await withApp(configure: { router, services in
            router.get("probe/anonymous") { _, _ -> String in
                RequestLogScope.current.map { "\($0.requestID) \($0.identity == nil)" } ?? "unbound"
            }
            router.group("probe").add(middleware: AuthenticationMiddleware(authenticator: services.authenticator))
                .get("authenticated") { _, _ -> String in
                    // A child task (a deadline's, a batch's) inherits the scope.
                    let child = await Task { RequestLogScope.current }.value
                    guard let scope = child, let identity = scope.identity else { return "unbound" }
                    return "\(scope.requestID) \(identity.workspaceID.lowercasedString) \(identity.actor)"
                }
        }) { client, workspace in
            let anonymous = try await client.send(.get, "/probe/anonymous", headers: [.xRequestID: "probe-1"], as: .anonymous)
            #expect(anonymous.text == "probe-1 true")
            let generated = try await client.send(.get, "/probe/anonymous", as: .anonymous)
            #expect(generated.text == "\(generated.headers[.xRequestID] ?? "?") true")
            let authenticated = try await client.send(.get, "/probe/authenticated", headers: [.xRequestID: "probe-2"])
            let parts = authenticated.text.split(separator: " ").map(String.init)
            #expect(parts.count == 3, "\(authenticated.text)")
            #expect(parts.first == "probe-2")
            #expect(parts.dropFirst().first == workspace.lowercasedString)
            #expect(parts.last?.hasPrefix("api_key:") == true)
        }
        // Outside any request nothing is bound.
        #expect(RequestLogScope.current == nil)
    }
}
