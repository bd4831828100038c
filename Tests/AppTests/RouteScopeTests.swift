import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing
import TrellisContract
@testable import TrellisRuntime

/// What a `/v1` route demands of a credential that is otherwise allowed in.
enum RouteDemand: Equatable, CustomStringConvertible {
    /// 403 `insufficient_scope` naming this scope unless the credential holds it.
    case scope(String)
    /// The path exists but not with this method: 405, whatever the credential holds.
    case methodNotAllowed
    /// A protocol endpoint (JSON-RPC): each call names a method, which checks its own scope
    /// (``RouteScopeTable/expectedMethods(api:)``).
    case perCall
    /// GraphQL: each root field checks its resource's scope.
    case perField
    /// Any valid credential (the GraphQL schema, the caller's own credential).
    case anyCredential
    /// No credential at all (login): an anonymous request reaches the handler.
    case noCredential
    /// Only a session (logout): any other credential is 422 `validation_failed`.
    case sessionOnly

    var description: String {
        switch self {
        case let .scope(scope): "scope \(scope)"
        case .methodNotAllowed: "405"
        case .perCall: "per call"
        case .perField: "per field"
        case .anyCredential: "any credential"
        case .noCredential: "no credential"
        case .sessionOnly: "a session"
        }
    }
}

/// The scope every `/v1` route needs, written down independently of the router: from the
/// schema's resources and operations (DESIGN.md §5) and the hand-written routes'
/// contract. A route the router lists that is missing here fails the invariant test, so a
/// new route cannot slip in without a scope check.
enum RouteScopeTable {
    static func expected(api: APIDefinition) -> [String: RouteDemand] {
        var table: [String: RouteDemand] = [:]
        let methods: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete]
        for resource in api.resources {
            let d = resource.descriptor
            let collection = "/v1/\(d.path)"
            let item = "/v1/\(d.path)/{id}"
            var routes: [String: [HTTPRequest.Method: String]] = [collection: [:], item: [:]]
            if d.operations.contains(.list) { routes[collection]![.get] = d.readScope }
            if d.operations.contains(.create) { routes[collection]![.post] = d.writeScope }
            if d.operations.contains(.get) { routes[item]![.get] = d.readScope }
            if d.operations.contains(.update) { routes[item]![.patch] = d.writeScope }
            if d.operations.contains(.delete) { routes[item]![.delete] = d.writeScope }
            if d.operations.contains(.search) { routes["/v1/\(d.path)/search"] = [.get: d.readScope] }
            for (path, allowed) in routes where !allowed.isEmpty {
                for method in methods {
                    table["\(method) \(path)"] = allowed[method].map(RouteDemand.scope) ?? .methodNotAllowed
                }
            }
        }
        for route in [
            "POST /v1/api-keys", "GET /v1/api-keys", "GET /v1/api-keys/{id}", "POST /v1/api-keys/{id}/revoke",
            "POST /v1/api-keys/{id}/rotate",
        ] {
            table[route] = .scope(ScopeSet.keysAdmin)
        }
        for route in [
            "POST /v1/admin/workspaces", "GET /v1/admin/workspaces", "POST /v1/admin/workspaces/{id}/api-keys",
            "POST /v1/admin/workspaces/{id}/api-keys/{key_id}/revoke", "POST /v1/admin/api-keys", "GET /v1/admin/api-keys",
            "POST /v1/admin/api-keys/{key_id}/revoke", "POST /v1/admin/users",
        ] {
            table[route] = .scope(ScopeSet.platformAdmin)
        }
        table["POST /v1/rpc"] = .perCall
        table["POST /v1/graphql"] = .perField
        table["GET /v1/graphql"] = .perField
        table["GET /v1/graphql/schema.graphql"] = .anyCredential
        table["GET /v1/auth/session"] = .anyCredential
        table["POST /v1/auth/login"] = .noCredential
        table["POST /v1/auth/logout"] = .sessionOnly
        table["GET /v1/events"] = .scope("events:read")
        table["GET /v1/realtime"] = .scope("events:read")
        if !api.jobs.isEmpty {
            table["POST /v1/jobs"] = .scope("jobs:write")
            table["GET /v1/jobs"] = .scope("jobs:read")
            table["GET /v1/jobs/{id}"] = .scope("jobs:read")
            table["POST /v1/jobs/{id}/cancel"] = .scope("jobs:write")
            table["POST /v1/jobs/{id}/retry"] = .scope("jobs:write")
        }
        for route in ["GET /v1/webhook-endpoints", "GET /v1/webhook-endpoints/{id}", "GET /v1/webhook-endpoints/{id}/deliveries",
                      "GET /v1/webhook-deliveries/{id}"] {
            table[route] = .scope("webhooks:read")
        }
        for route in ["POST /v1/webhook-endpoints", "PATCH /v1/webhook-endpoints/{id}", "DELETE /v1/webhook-endpoints/{id}",
                      "POST /v1/webhook-deliveries/{id}/redeliver"] {
            table[route] = .scope("webhooks:write")
        }
        for route in ["GET /v1/admin/errors", "GET /v1/admin/errors/{fingerprint}", "POST /v1/admin/errors/{fingerprint}/resolve"] {
            table[route] = .scope(ScopeSet.platformAdmin)
        }
        if !api.schedules.isEmpty {
            table["GET /v1/admin/schedules"] = .scope(ScopeSet.platformAdmin)
            table["POST /v1/admin/schedules/{name}/run"] = .scope(ScopeSet.platformAdmin)
        }
        return table
    }

    /// The scope every JSON-RPC method needs: `<path>.<operation>` for each operation a
    /// resource's schema lists, its read or write scope.
    static func expectedMethods(api: APIDefinition) -> [String: String] {
        var table: [String: String] = [:]
        for resource in api.resources {
            let d = resource.descriptor
            for operation in d.operations {
                let reads = [ResourceOperation.list, .get, .search].contains(operation)
                table["\(d.path).\(operation.rawValue)"] = reads ? d.readScope : d.writeScope
            }
        }
        if !api.jobs.isEmpty {
            for method in ["enqueue", "cancel", "retry"] { table["jobs.\(method)"] = "jobs:write" }
            for method in ["get", "list"] { table["jobs.\(method)"] = "jobs:read" }
        }
        return table
    }
}

@Suite("Every /v1 route checks its scope")
struct RouteScopeTests {
    @Test func everyRouteTheRouterListsRefusesACredentialWithoutItsScope() async throws {
        let routes = NIOLockedValueBox<[String]>([])
        let api = TrellisApp.api
        let expected = RouteScopeTable.expected(api: api)
        try await withApp(configure: { router, _ in routes.withLockedValue { $0 = router.routes.map(\.description) } }) { client, workspace in
            let listed = routes.withLockedValue { $0 }.filter { $0.split(separator: " ").last?.hasPrefix("/v1/") == true }
            #expect(listed.count >= 30, "the router lists only \(listed.count) /v1 routes")
            for route in listed where expected[route] == nil {
                Issue.record("\(route) is not in RouteScopeTable: say which scope it needs, and check it in the handler")
            }
            for route in expected.keys where !listed.contains(route) {
                Issue.record("RouteScopeTable lists \(route), which the router does not")
            }
            // One key per missing scope, holding every other scope a tenant key can hold.
            let all = api.scopeCatalog.known.subtracting([ScopeSet.all, ScopeSet.platformAdmin])
            var keys: [String: String] = [:]
            let methods = RouteScopeTable.expectedMethods(api: api)
            #expect(Set(api.rpcMethods.map(\.0)) == Set(methods.keys), "the JSON-RPC methods and the table differ")
            let demanded = listed.compactMap { route -> String? in
                if case let .scope(scope)? = expected[route] { return scope }
                return nil
            } + (listed.contains("POST /v1/rpc") ? Array(methods.values) : [])
                + (listed.contains("POST /v1/graphql") ? api.resources.flatMap { [$0.descriptor.readScope, $0.descriptor.writeScope] } : [])
            for scope in demanded {
                if keys[scope] == nil {
                    let scopes = scope == ScopeSet.platformAdmin ? [ScopeSet.all] + all : Array(all.subtracting([scope]))
                    keys[scope] = try await makeKey(workspace: workspace, scopes: scopes.sorted()).token.text
                }
            }
            for route in listed {
                guard let demand = expected[route] else { continue }
                let parts = route.split(separator: " ")
                let method = HTTPRequest.Method(rawValue: String(parts[0]))!
                let path = String(parts[1])
                    .replacingOccurrences(of: "{id}", with: UUID().uuidString.lowercased())
                    .replacingOccurrences(of: "{key_id}", with: UUID().uuidString.lowercased())
                    .replacingOccurrences(of: "{name}", with: "messages.cleanup")
                let body: String? = [.post, .put, .patch].contains(method) ? #"{"name":"x","scopes":["agents:read"]}"# : nil
                switch demand {
                case let .scope(scope):
                    let res = try await client.send(method, path, json: body, as: .bearer(keys[scope]!))
                    #expect(res.status == .forbidden, "\(route) without \(scope) gave \(res.status)")
                    #expect(try res.object().string("code") == "insufficient_scope", "\(route)")
                    #expect(try res.object().string("detail")?.contains("'\(scope)'") == true, "\(route)")
                case .methodNotAllowed:
                    let res = try await client.send(method, path, json: body)
                    #expect(res.status == .methodNotAllowed, "\(route) gave \(res.status)")
                case .anyCredential:
                    let res = try await client.send(method, path, as: .bearer(keys.values.first!))
                    #expect(res.status == .ok, "\(route) gave \(res.status)")
                case .noCredential:
                    // The handler's own answer (the body lacks its fields), not the front door's 401.
                    let res = try await client.send(method, path, json: body, as: .anonymous)
                    #expect(res.status == .unprocessableContent, "\(route) without a credential gave \(res.status)")
                case .sessionOnly:
                    let res = try await client.send(method, path, json: nil, as: .bearer(keys.values.first!))
                    #expect(res.status == .unprocessableContent, "\(route) with an API key gave \(res.status)")
                    #expect(try res.object().array("errors").first?.object?.string("path") == "/headers/authorization", "\(route)")
                case .perField:
                    // Every resource's get (a query) and create (a mutation, POST only), and every
                    // job field, without its scope.
                    var fields: [(query: String, scope: String)] = []
                    for resource in api.resources {
                        let d = resource.descriptor
                        let singular = d.name.prefix(1).lowercased() + d.name.dropFirst()
                        if d.operations.contains(.get) {
                            fields.append(("{ \(singular)(id: \"\(UUID().uuidString.lowercased())\") { id } }", d.readScope))
                        }
                        if d.operations.contains(.create), method == .post {
                            fields.append(("mutation($in: \(d.name)CreateInput!) { create\(d.name)(input: $in) { id } }", d.writeScope))
                        }
                    }
                    if !api.jobs.isEmpty {
                        let id = UUID().uuidString.lowercased()
                        fields.append(("{ job(id: \"\(id)\") { id } }", "jobs:read"))
                        fields.append(("{ jobs { edges { node { id } } } }", "jobs:read"))
                        if method == .post {
                            fields.append(("mutation($in: JobEnqueueInput!) { enqueueJob(input: $in) { id } }", "jobs:write"))
                            fields.append(("mutation { cancelJob(id: \"\(id)\") { id } }", "jobs:write"))
                            fields.append(("mutation { retryJob(id: \"\(id)\") { id } }", "jobs:write"))
                        }
                    }
                    for (query, scope) in fields {
                        let res: TestResponse
                        if method == .post {
                            res = try await client.send(
                                method, path, json: #"{"query":\#(JSONValue.string(query).jsonText),"variables":{"in":{}}}"#,
                                as: .bearer(keys[scope]!))
                        } else {
                            res = try await client.send(
                                method, path + "?query=" + (query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""),
                                as: .bearer(keys[scope]!))
                        }
                        #expect(res.status == .ok, "\(route) \(query) without \(scope) gave HTTP \(res.status)")
                        let error = try res.object().array("errors").first?.object
                        #expect(error?["extensions"]?.object?.string("code") == "insufficient_scope", "\(route) \(query): \(res.text)")
                        #expect(error?.string("message")?.contains("'\(scope)'") == true, "\(route) \(query)")
                    }
                case .perCall:
                    for (name, scope) in methods.sorted(by: { $0.key < $1.key }) {
                        let params = #"{"id":"\#(UUID().uuidString.lowercased())","name":"x","q":"x"}"#
                        let res = try await client.send(
                            method, path, json: #"{"jsonrpc":"2.0","method":"\#(name)","params":\#(params),"id":1}"#,
                            as: .bearer(keys[scope]!))
                        #expect(res.status == .ok, "\(name) without \(scope) gave HTTP \(res.status)")
                        let error = try res.object()["error"]?.object
                        #expect(error?["code"] == .integer(-32003), "\(name) without \(scope): \(res.text)")
                        #expect(error?["data"]?.object?.string("code") == "insufficient_scope", "\(name)")
                        #expect(error?.string("message")?.contains("'\(scope)'") == true, "\(name)")
                    }
                }
            }
            // The refused writes changed nothing.
            let stored = try await withInspector { client in
                try await client.query("SELECT count(*) FROM agents WHERE workspace_id = \(workspace)", logger: .init(label: "test"))
                    .decode(Int.self).all().first ?? -1
            }
            #expect(stored == 0)
        }
    }
}
