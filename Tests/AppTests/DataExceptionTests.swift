import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// Issue 7 item 4: a Postgres data exception (SQLSTATE class 22) caused by a client value is
/// a 400, with the parameter's path where it is known, never a 500.
@Suite("Postgres data exceptions from client values are 400s")
struct DataExceptionTests {
    @Test("a list whose one client value Postgres refuses is a 400 invalid_query at that parameter")
    func listNamesTheParameter() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: "tests", scopes: ScopeSet(["*"]))
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            // Past the parser (which would refuse it): a cursor whose timestamp overflows.
            let query = ListQuery(
                limit: 5, sortKey: "created_at", descending: true,
                cursor: Cursor(sort: "-created_at", value: "99999999-01-01 00:00:00+00", id: UUID()),
                createdAfter: nil, createdBefore: nil, conditions: [], search: nil, cursorKeys: .ephemeral())
            let statement = TenantStatement(client: client, identity: identity, logger: Logger(label: "test"))
            do {
                _ = try await ResourceService<Agent>().list(query, in: statement)
                Issue.record("the overflowing cursor value was accepted")
            } catch let problem as Problem {
                #expect(problem.status == .badRequest)
                #expect(problem.code == "invalid_query")
                #expect(problem.errors.map(\.path) == ["/query/cursor"])
            }
        }
    }

    @Test("a data exception from a hand-written route is a 422 validation_failed that leaks no SQL")
    func handWrittenRouteFallback() async throws {
        try await withApp(configure: { router, services in
            router.get("v1/cast") { request, context -> String in
                let value = request.uri.queryParameters.get("value") ?? ""
                let rows = try await services.postgres.query("SELECT \(value)::int", logger: context.logger)
                for try await _ in rows {}
                return "ok"
            }
        }) { client, _ in
            let res = try await client.send(.get, "/v1/cast?value=not-a-number")
            // The boundary cannot tell which value it was; the catalogue's code for a refused value.
            #expect(res.status == .unprocessableContent)
            #expect(try res.object().string("code") == "validation_failed")
            #expect(!res.text.contains("SELECT") && !res.text.contains("not-a-number") && !res.text.contains("22P02"))
            #expect(try await client.send(.get, "/v1/cast?value=7").status == .ok)
        }
    }
}
