import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing
import TrellisContract
import TrellisPostgres
@testable import TrellisRuntime

/// The shared catalogue (`Sources/TrellisContract`) against the live server: every catalogued
/// problem is driven out of the real router and compared with the catalogue, and the served
/// document may document only codes and headers the server was seen to send.
@Suite("Contract catalogue: the server sends what the document says", .serialized)
struct ContractCatalogueTests {
    static let logger = Logger(label: "test")

    /// What one request drove the server to answer.
    struct Observed {
        var code: String
        var response: TestResponse
    }

    /// Drives the server into every catalogued problem; returns each response by code, plus
    /// every response header name seen on the way (successes included).
    static func driveEveryProblem(_ client: APIClient, workspace: UUID) async throws -> (problems: [String: TestResponse], headers: Set<String>) {
        var problems: [String: TestResponse] = [:]
        var headers = Set<String>()
        func record(_ code: String, _ response: TestResponse) {
            problems[code] = response
            headers.formUnion(response.headers.map(\.name.rawName))
        }
        func seen(_ response: TestResponse) { headers.formUnion(response.headers.map(\.name.rawName)) }

        let missing = "/v1/agents/\(UUID().uuidString.lowercased())"
        record("malformed_json", try await client.send(.post, "/v1/agents", json: #"{"name":"#))
        record("invalid_query", try await client.send(.get, "/v1/agents?limit=0"))
        record("invalid_idempotency_key", try await client.send(
            .post, "/v1/agents", json: #"{"name":"x"}"#, headers: [.idempotencyKey: "has space"]))
        record("unauthenticated", try await client.send(.get, "/v1/agents", as: .anonymous))
        let reader = try await makeKey(workspace: workspace, scopes: ["agents:read"])
        record("insufficient_scope", try await client.send(.post, "/v1/agents", json: #"{"name":"x"}"#, as: .bearer(reader.token.text)))
        record("not_found", try await client.send(.get, missing))
        record("method_not_allowed", try await client.send(.put, "/v1/agents", json: "{}"))
        record("payload_too_large", try await client.send(
            .post, "/v1/agents", json: #"{"name":""# + String(repeating: "x", count: TrellisApp.api.maxBodySize) + #""}"#))
        record("unsupported_media_type", try await client.send(
            .post, "/v1/agents", json: #"{"name":"x"}"#, headers: [.contentType: "text/plain"]))
        record("validation_failed", try await client.send(.post, "/v1/agents", json: #"{"name":"","colour":"red"}"#))

        // Successes, for the headers they carry: Location, ETag, Link, Idempotent-Replayed.
        let created = try await client.send(.post, "/v1/agents", json: #"{"name":"first"}"#, headers: [.idempotencyKey: "contract-1"])
        seen(created)
        seen(try await client.send(.post, "/v1/agents", json: #"{"name":"first"}"#, headers: [.idempotencyKey: "contract-1"]))
        record("idempotency_key_reused", try await client.send(
            .post, "/v1/agents", json: #"{"name":"other"}"#, headers: [.idempotencyKey: "contract-1"]))
        seen(try await client.send(.post, "/v1/agents", json: #"{"name":"second"}"#))
        seen(try await client.send(.get, "/v1/agents?limit=1"))
        let agent = try #require(try created.object().string("id"))
        seen(try await client.send(.get, "/v1/agents/\(agent)"))
        record("precondition_failed", try await client.send(
            .patch, "/v1/agents/\(agent)", json: #"{"role":"x"}"#, headers: [.ifMatch: "\"99\""]))

        let tool = "contract-\(UUID().uuidString)"
        #expect(try await client.send(.post, "/v1/tools", json: #"{"name":"\#(tool)"}"#).status == .created)
        record("unique_violation", try await client.send(.post, "/v1/tools", json: #"{"name":"\#(tool)"}"#))

        record("still_referenced", try await deleteReferencedSwarm(client, workspace: workspace))
        // A WebSocket path asked for without an upgrade.
        record("upgrade_required", try await client.send(.get, "/v1/realtime"))

        let key = try await client.send(.post, "/v1/api-keys", json: #"{"name":"old","scopes":["agents:read"]}"#)
        let keyID = try #require(try key.object().string("id"))
        seen(try await client.send(.post, "/v1/api-keys/\(keyID)/revoke"))
        record("key_inactive", try await client.send(.post, "/v1/api-keys/\(keyID)/rotate"))

        // A job that has not run yet is cancelled; retrying it is fine, cancelling a second
        // time after the retry is too, but retrying an available job is a state conflict.
        let later = RFC3339.format(Date().addingTimeInterval(86_400))
        let job = try await client.send(.post, "/v1/jobs", json: #"{"type":"messages.cleanup","run_at":"\#(later)"}"#)
        let jobID = try #require(try job.object().string("id"))
        seen(job)
        seen(try await client.send(.get, "/v1/jobs/\(jobID)"))
        seen(try await client.send(.get, "/v1/jobs"))
        record("job_state_conflict", try await client.send(.post, "/v1/jobs/\(jobID)/retry"))
        seen(try await client.send(.post, "/v1/jobs/\(jobID)/cancel"))

        // A database fault inside the write: the statement fails (500) or the session ends (503).
        let failing = "contract-500-\(UUID().uuidString)"
        record("internal_error", try await AtomicWriteFaultTests.withAuditTrigger(name: failing, action: "RAISE EXCEPTION 'forced failure'") {
            try await client.send(.post, "/v1/tools", json: #"{"name":"\#(failing)"}"#)
        })
        let ending = "contract-503-\(UUID().uuidString)"
        record("service_unavailable", try await AtomicWriteFaultTests.withAuditTrigger(
            name: ending, action: "PERFORM pg_terminate_backend(pg_backend_pid())"
        ) {
            try await client.send(.post, "/v1/tools", json: #"{"name":"\#(ending)"}"#)
        })
        // The credential's rate limit (the in-process limiter the contract apps run with):
        // the schema endpoint's bucket has `api.yaml`'s default, spent by asking until refused.
        for _ in 0..<1_000 {
            let response = try await client.send(.get, "/v1/graphql/schema.graphql")
            if response.status == .tooManyRequests {
                record("rate_limited", response)
                break
            }
            seen(response)
        }
        return (problems, headers)
    }

    /// An app for the contract tests: rate-limited in process, so a 429 can be driven too.
    static let limiter = RateLimiter(redis: nil, logger: logger)

    /// A swarm that a row of a plain table (made here, as the owner) references with
    /// `ON DELETE RESTRICT`: deleting it over the API is refused by Postgres.
    static func deleteReferencedSwarm(_ client: APIClient, workspace: UUID) async throws -> TestResponse {
        let swarm = try #require(try await client.send(.post, "/v1/swarms", json: #"{"name":"pinned"}"#).object().string("id"))
        let table = "contract_pins_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await ownerDDL([
            """
            CREATE TABLE \(table) (workspace_id uuid NOT NULL, swarm_id uuid NOT NULL,
                FOREIGN KEY (workspace_id, swarm_id) REFERENCES swarms (workspace_id, id) ON DELETE RESTRICT)
            """,
            "INSERT INTO \(table) VALUES ('\(workspace.uuidString.lowercased())', '\(swarm)')",
        ])
        // A deadlock with another suite's DDL on swarms is a 503 the client retries, as any would.
        var result: Result<TestResponse, any Error> = .failure(Unexpected(message: "no DELETE sent"))
        for _ in 0..<5 {
            do { result = .success(try await client.send(.delete, "/v1/swarms/\(swarm)")) } catch { result = .failure(error) }
            guard case let .success(response) = result, response.status == .serviceUnavailable else { break }
        }
        try await ownerDDL(["DROP TABLE \(table)"])
        return try result.get()
    }

    @Test func everyCataloguedProblemComesFromTheLiveServerWithItsStatusTitleTypeAndHeaders() async throws {
        try await withApp(rateLimiter: Self.limiter) { client, workspace in
            let (problems, _) = try await Self.driveEveryProblem(client, workspace: workspace)
            #expect(Set(problems.keys) == Set(ProblemCatalogue.all.map(\.code)), "a catalogued code has no request that yields it")
            for kind in ProblemCatalogue.all {
                let response = try #require(problems[kind.code], "\(kind.code) was not driven")
                let body = try response.object()
                #expect(Int(response.status.code) == kind.status, "\(kind.code): \(response.status) \(response.text)")
                #expect(body.string("code") == kind.code, "\(kind.code): \(response.text)")
                #expect(body.string("title") == kind.title, "\(kind.code)")
                #expect(body.string("type") == kind.type, "\(kind.code)")
                #expect(response.headers[.contentType] == "application/problem+json", "\(kind.code)")
                for header in kind.headers + ["X-Request-ID"] {
                    #expect(response.headers[HTTPField.Name(header)!] != nil, "\(kind.code) lacks \(header)")
                }
            }
        }
    }

    /// Every problem example of a response component, by the status the component is used at.
    static func documentedProblems(_ document: JSONObject) throws -> [(status: String, code: String, path: String)] {
        let components = document["components"]?.object?["responses"]?.object ?? JSONObject()
        var result: [(String, String, String)] = []
        for path in document["paths"]?.object ?? JSONObject() {
            for operation in path.value.object ?? JSONObject() {
                for response in operation.value.object?["responses"]?.object ?? JSONObject() {
                    guard let ref = response.value.object?.string("$ref") else { continue }
                    let name = String(ref.split(separator: "/").last ?? "")
                    let media = components[name]?.object?["content"]?.object?["application/problem+json"]?.object
                    var samples: [JSONValue] = media?["example"].map { [$0] } ?? []
                    for example in media?["examples"]?.object ?? JSONObject() { samples += example.value.object?["value"].map { [$0] } ?? [] }
                    for sample in samples {
                        result.append((response.key, sample.object?.string("code") ?? "?", "\(operation.key) \(path.key)"))
                    }
                }
            }
        }
        return result
    }

    /// Header names the document says some response carries (components and inline).
    static func documentedHeaders(_ document: JSONObject) -> Set<String> {
        var names = Set((document["components"]?.object?["headers"]?.object ?? JSONObject()).map(\.key))
        for response in document["components"]?.object?["responses"]?.object ?? JSONObject() {
            names.formUnion((response.value.object?["headers"]?.object ?? JSONObject()).map(\.key))
        }
        for path in document["paths"]?.object ?? JSONObject() {
            for operation in path.value.object ?? JSONObject() {
                for response in operation.value.object?["responses"]?.object ?? JSONObject() {
                    names.formUnion((response.value.object?["headers"]?.object ?? JSONObject()).map(\.key))
                }
            }
        }
        return names
    }

    @Test func theServedDocumentDocumentsOnlyProblemsAndHeadersTheServerWasSeenToSend() async throws {
        try await withApp(rateLimiter: Self.limiter, configure: DeprecatedAgents.register) { client, workspace in
            let document = try await client.send(.get, "/openapi.json", as: .anonymous).object()
            let driven = try await Self.driveEveryProblem(client, workspace: workspace)
            let problems = driven.problems
            var headers = driven.headers
            // The deprecation headers, from a deprecated resource (the sample schema has none).
            let deprecated = try await client.send(.post, "/v1/\(DeprecatedAgents.path)", json: #"{"name":"old"}"#)
            headers.formUnion(deprecated.headers.map(\.name.rawName))

            let documented = try Self.documentedProblems(document)
            #expect(!documented.isEmpty)
            for (status, code, operation) in documented {
                let live = try #require(problems[code], "\(operation) documents \(code), which the server was never seen to send")
                #expect(String(live.status.code) == status, "\(operation) documents \(code) as \(status); the server sends \(live.status.code)")
            }
            let codeEnum = document["components"]?.object?["schemas"]?.object?["Problem"]?.object?["properties"]?.object?["code"]?.object?["enum"]
            guard case let .array(values)? = codeEnum else { throw Unexpected(message: "Problem.code has no enum") }
            let enumCodes = Set(values.compactMap { if case let .string(s) = $0 { s } else { nil } })
            #expect(enumCodes == Set(problems.keys), "Problem.code lists codes the server does not send, or misses some")

            let seen = Set(headers.map { $0.lowercased() })
            for name in Self.documentedHeaders(document) {
                #expect(seen.contains(name.lowercased()), "the document lists the header \(name), which the server was never seen to send")
            }
        }
    }

    /// A hand-written route that the contract does not list would be missing from the document.
    @Test func everyRouteUnder_v1_IsAGeneratedOperationOrAHandWrittenOneOfTheContract() throws {
        let api = TrellisApp.api
        let postgres = PostgresClient(configuration: .init(host: "127.0.0.1", username: "unused", password: nil, database: nil, tls: .disable))
        let router = TrellisServer.makeRouter(api: api, services: TrellisServices(api: api, postgres: postgres))
        let resourcePaths = Set(api.resources.flatMap { r in
            ["v1/\(r.descriptor.path)", "v1/\(r.descriptor.path)/{id}", "v1/\(r.descriptor.path)/search"]
        })
        let handWritten = Set(OperationContract.handWritten.map { "\($0.method.rawValue) v1/\($0.path)" }
            + ProtocolEndpoint.all.map { "\($0.method.rawValue) v1/\($0.path)" })
        var checked = 0
        for route in router.routes {
            let path = route.path.description.drop { $0 == "/" }
            guard path.hasPrefix("v1/"), !resourcePaths.contains(String(path)) else { continue }
            #expect(handWritten.contains("\(route.method.rawValue) \(path)"), "\(route.method) /\(path) is not in OperationContract.handWritten or ProtocolEndpoint.all")
            checked += 1
        }
        #expect(checked >= 8, "the hand-written routes were not found in the router")
    }

    @Test func theServedDocumentListsTheServingHostFirstThenThoseOfAPIYAML() async throws {
        try await withApp { client, _ in
            for path in ["/openapi.json", "/openapi.yaml"] {
                let text = try await client.send(.get, path, as: .anonymous).text
                #expect(text.contains(#""url" : "/""#) || text.contains("\n  url: /\n"), "\(path) lacks the relative server")
            }
            let servers = try await client.send(.get, "/openapi.json", as: .anonymous).object()["servers"]
            guard case let .array(list)? = servers else { throw Unexpected(message: "no servers") }
            let urls = list.compactMap { $0.object?.string("url") }
            #expect(urls.first == "/")
            #expect(urls.dropFirst().contains("http://127.0.0.1:8080"), "api.yaml's servers follow")
        }
    }

    @Test func aDeprecatedResourceSendsDeprecationSunsetAndLinkOnEveryResponse() async throws {
        try await withApp(configure: DeprecatedAgents.register) { client, _ in
            let path = "/v1/\(DeprecatedAgents.path)"
            let before = Int64(Date().timeIntervalSince1970)
            let responses = [
                try await client.send(.post, path, json: #"{"name":"old"}"#),
                try await client.send(.get, path),
                try await client.send(.get, path + "?limit=0"),
                try await client.send(.get, path + "/\(UUID().uuidString)"),
            ]
            #expect(responses.map(\.status) == [.created, .ok, .badRequest, .notFound])
            for response in responses {
                let deprecation = try #require(response.headers[.deprecation], "\(response.status) lacks Deprecation")
                let stamp = try #require(Int64(deprecation.dropFirst()), "Deprecation is not @<seconds>: \(deprecation)")
                #expect(deprecation.hasPrefix("@") && stamp >= before && stamp <= Int64(Date().timeIntervalSince1970) + 1)
                #expect(response.headers[.sunset] == "Wed, 30 Jun 2027 23:59:59 GMT")
                #expect(response.headers[.link]?.contains(#"<https://example.com/migrate>; rel="deprecation""#) == true)
            }
            let current = try await client.send(.get, "/v1/agents")
            #expect(current.headers[.deprecation] == nil)
            #expect(current.headers[.sunset] == nil)
        }
    }
}

/// Agents served again at `/v1/legacy-agents`, marked deprecated: the sample schema has no
/// deprecated resource, and the headers come from the descriptor alone.
struct DeprecatedAgents: Resource {
    typealias Create = Agent.Create
    typealias Patch = Agent.Patch
    typealias Filter = Agent.Filter

    static let path = "legacy-agents"
    static let descriptor: ResourceDescriptor = {
        var descriptor = Agent.descriptor
        descriptor.path = path
        descriptor.deprecation = ResourceDeprecation(sunset: "2027-06-30", link: "https://example.com/migrate")
        return descriptor
    }()

    let agent: Agent
    init(row: SQLRow) throws { agent = try Agent(row: row) }
    var id: UUID { agent.id }
    var version: Int64 { agent.version }
    func writeJSON(to w: inout JSONWriter) { agent.writeJSON(to: &w) }

    /// Adds the routes behind the same authentication as `/v1`.
    @Sendable static func register(_ router: Router<TrellisRequestContext>, _ services: TrellisServices) {
        let v1 = router.group("v1").add(middleware: AuthenticationMiddleware(authenticator: services.authenticator))
        RegisteredResource(DeprecatedAgents.self).register(v1, services)
    }
}
