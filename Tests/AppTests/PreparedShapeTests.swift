import App
import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// Statements built at run time (lists, searches, inserts, updates) run as named prepared
/// statements, one per shape and connection, bounded in number, switchable off for poolers
/// that cannot keep them, and as tightly scoped to the caller's workspace as before.
@Suite("Prepared statement shapes")
struct PreparedShapeTests {
    static let logger = Logger(label: "test")

    static func identity(_ workspace: UUID) -> Identity {
        Identity(workspaceID: workspace, kind: .apiKey, credentialID: "shape-test", scopes: ScopeSet(["*"]))
    }

    static func query(_ parameters: [(String, String)]) throws -> ListQuery {
        guard case let .valid(query) = ListQueryParser.parse(
            Tool.self, parameters: parameters, limits: PageLimits(), keys: CursorKeys.ephemeral(), isSearch: false)
        else { throw PreparedShapeFailure("the list query does not parse") }
        return query
    }

    /// A workspace with `count` tools named `tool-0`…, half of them with a description.
    static func workspace(tools count: Int) async throws -> UUID {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        try await withApp(workspace: workspace) { client, _ in
            for index in 0..<count {
                let body = index % 2 == 0 ? #"{"name":"tool-\#(index)"}"# : #"{"name":"tool-\#(index)","description":"d"}"#
                let status = try await client.send(.post, "/v1/tools", json: body).status
                #expect(status == .created)
            }
        }
        return workspace
    }

    /// Runs `body` on a pool of exactly one connection (so `pg_prepared_statements` shows what
    /// the statements before it prepared), with extra startup settings.
    static func withOneConnection<T: Sendable>(
        settings: [(String, String)] = [], _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        var configuration = try testClientConfiguration(TestEnvironment.url("TRELLIS_TEST_DATABASE_URL"), maximumConnections: 1)
        configuration.options.additionalStartupParameters += settings
        return try await withClient(configuration: configuration, body)
    }

    /// The statements the one connection has prepared, by name.
    static func prepared(_ client: PostgresClient) async throws -> [String: String] {
        let rows = try await client.query("SELECT name, statement FROM pg_prepared_statements", logger: logger)
            .decode((String, String).self).all()
        return Dictionary(uniqueKeysWithValues: rows)
    }

    @Test func aListShapeIsPreparedOncePerPageSizeAndReused() async throws {
        let workspace = try await Self.workspace(tools: 5)
        try await Self.withOneConnection { client in
            let shapes = PreparedShapes(limit: 16)
            let session = TenantStatement(client: client, identity: Self.identity(workspace), logger: Self.logger, statements: shapes)
            for limit in ["2", "3", "2", "3", "2"] {
                let page = try await ResourceService<Tool>().list(try Self.query([("limit", limit)]), in: session)
                #expect(page.items.count == Int(limit))
                #expect(page.items.allSatisfy { $0.workspaceID == workspace })
            }
            let named = try await Self.prepared(client).filter { $0.key.hasPrefix("trellis_shape_") }
            #expect(named.count == 2)
            #expect(named.values.allSatisfy { $0.contains("FROM \"tools\"") })
            #expect(shapes.count == 2)
            // Another order is another shape.
            _ = try await ResourceService<Tool>().list(try Self.query([("sort", "name"), ("limit", "2")]), in: session)
            #expect(try await Self.prepared(client).keys.filter { $0.hasPrefix("trellis_shape_") }.count == 3)
        }
    }

    @Test func withALimitOfZeroNothingIsPreparedAndReadsStillAnswer() async throws {
        let workspace = try await Self.workspace(tools: 3)
        try await Self.withOneConnection { client in
            let session = TenantStatement(
                client: client, identity: Self.identity(workspace), logger: Self.logger, statements: PreparedShapes(limit: 0))
            let page = try await ResourceService<Tool>().list(try Self.query([("limit", "10")]), in: session)
            #expect(page.items.count == 3)
            let one = try await ResourceService<Tool>().get(page.items[0].id, in: session)
            #expect(one.id == page.items[0].id)
            #expect(try await Self.prepared(client).isEmpty, "PgBouncer mode prepared a statement")
        }
    }

    @Test func pastTheLimitNewShapesRunUnnamed() async throws {
        let workspace = try await Self.workspace(tools: 3)
        try await Self.withOneConnection { client in
            let shapes = PreparedShapes(limit: 1)
            let session = TenantStatement(client: client, identity: Self.identity(workspace), logger: Self.logger, statements: shapes)
            let byDate = try await ResourceService<Tool>().list(try Self.query([]), in: session)
            let byName = try await ResourceService<Tool>().list(try Self.query([("sort", "name")]), in: session)
            let enabled = try await ResourceService<Tool>().list(try Self.query([("enabled", "true")]), in: session)
            #expect(byDate.items.count == 3 && byName.items.count == 3 && enabled.items.count == 3)
            #expect(byName.items.map(\.name) == ["tool-0", "tool-1", "tool-2"])
            #expect(shapes.count == 1)
            #expect(try await Self.prepared(client).count == 1)
        }
    }

    /// The prepared list keeps the one-statement read's row-level security: on one connection
    /// with the generic plan forced, alternating workspaces each see only their own rows.
    @Test func aPreparedListShapeStaysInItsWorkspaceUnderTheGenericPlan() async throws {
        let mine = try await Self.workspace(tools: 2)
        let theirs = try await Self.workspace(tools: 3)
        try await Self.withOneConnection(settings: [("plan_cache_mode", "force_generic_plan")]) { client in
            let shapes = PreparedShapes(limit: 16)
            for (workspace, count) in [(mine, 2), (theirs, 3), (mine, 2), (theirs, 3), (mine, 2), (theirs, 3), (mine, 2)] {
                let session = TenantStatement(client: client, identity: Self.identity(workspace), logger: Self.logger, statements: shapes)
                let page = try await ResourceService<Tool>().list(try Self.query([("limit", "50")]), in: session)
                #expect(page.items.count == count)
                #expect(page.items.allSatisfy { $0.workspaceID == workspace })
            }
            #expect(shapes.count == 1)
        }
    }

    /// Inserts are one shape whether or not a nullable field is null (its parameter is declared
    /// with the column's type either way), and the row comes back as written.
    @Test func anInsertIsOneShapeWithAndWithoutNulls() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        try await Self.withOneConnection { client in
            let shapes = PreparedShapes(limit: 16)
            let origin = RequestOrigin(requestID: "shape-test", ip: nil, userAgent: nil)
            for (index, description) in [(0, nil), (1, "described"), (2, nil)] as [(Int, String?)] {
                var members = [JSONObject.Member(key: "name", value: .string("insert-\(index)"))]
                if let description { members.append(JSONObject.Member(key: "description", value: .string(description))) }
                guard case let .valid(input) = ToolCreate.validate(.object(JSONObject(members))) else {
                    throw PreparedShapeFailure("the tool body does not validate")
                }
                let created = try await TenantTransaction.run(
                    on: client, identity: Self.identity(workspace), origin: origin, logger: Self.logger, statements: shapes
                ) { tx in try await ResourceService<Tool>().create(input, in: tx) }
                #expect(created.name == "insert-\(index)")
                #expect(created.description == description)
            }
            let inserts = try await Self.prepared(client).filter { $0.value.hasPrefix("INSERT INTO \"tools\"") }
            #expect(inserts.count == 1)
        }
    }
}

struct PreparedShapeFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
