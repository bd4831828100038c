import Testing
import TrellisSchema

@Suite("Resource keys")
struct ResourceTests {
    @Test func defaultsAreFilledIn() throws {
        let resource = try #require(Fixture.resource("resource: Category\nfields:\n  title: { type: string }\n"))
        #expect(resource.table == "categories")
        #expect(resource.path == "categories")
        #expect(resource.tenancy == .workspace)
        #expect(resource.sort == ["created_at"])
        #expect(resource.operations == [.list, .get, .create, .update, .delete])
        #expect(resource.scopes == Scopes(read: "categories:read", write: "categories:write"))
        #expect(resource.cache == nil && resource.rateLimit == nil && resource.deprecated == nil)
        #expect(!resource.events && !resource.audit)
        #expect(resource.location.description == "schema/agents.yaml:1:11")
    }

    @Test func explicitTablePathScopesAndDeprecationAreKept() throws {
        let yaml = """
            resource: APIKey
            table: credentials
            path: api-keys
            tenancy: global
            fields:
              label: { type: string }
            scopes: { read: "admin:read", write: "admin:write" }
            deprecated: { sunset: 2027-06-30, link: https://example.com/migrate }
            """
        let resource = try #require(Fixture.resource(yaml))
        #expect(resource.table == "credentials" && resource.path == "api-keys" && resource.tenancy == .global)
        #expect(resource.scopes == Scopes(read: "admin:read", write: "admin:write"))
        #expect(resource.deprecated == Deprecation(sunset: "2027-06-30", link: "https://example.com/migrate"))
    }

    @Test func unknownResourceKeySuggestsTheClosestKey() {
        #expect(Fixture.diagnostics(agents: "resource: Agent\nfeilds:\n  name: { type: string }\n") == [
            "schema/agents.yaml:1:1: error: missing required key 'fields' in a resource file",
            "schema/agents.yaml:2:1: error: unknown key 'feilds' in a resource file (did you mean 'fields'?)",
        ])
    }

    @Test func resourceNameMustBePascalCase() {
        #expect(Fixture.diagnostics(agents: "resource: swarm_member\nfields:\n  name: { type: string }\n") == [
            "schema/agents.yaml:1:11: error: resource name 'swarm_member' must be PascalCase, e.g. 'SwarmMember'",
        ])
    }

    @Test func aResourceCannotTakeANameTheGraphQLSchemaDefinesItself() {
        #expect(Fixture.diagnostics(agents: "resource: Job\nfields:\n  name: { type: string }\n") == [
            "schema/agents.yaml:1:11: error: resource name 'Job' is reserved: the GraphQL schema has a type of that name",
        ])
    }

    @Test func closedVocabulariesSuggestTheClosestValue() {
        let yaml = Fixture.agent(fields: """
              level: { type: string, search: E }
              parent_id: { type: uuid, references: agents, on_delete: cascde }
            tenancy: workspce

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:34: error: unknown search weight 'E'; expected one of: A, B, C, D",
            "schema/agents.yaml:5:59: error: unknown on_delete action 'cascde' (did you mean 'cascade'?); expected one of: cascade, set_null, restrict, no_action",
            "schema/agents.yaml:6:10: error: unknown tenancy 'workspce' (did you mean 'workspace'?); expected one of: workspace, global",
        ])
    }

    @Test func sortOnANullableFieldIsAnError() {
        let yaml = Fixture.agent(fields: """
              nickname: { type: string }
              rank: { type: integer, nullable: true, default: 1 }
              score: { type: number, default: 0 }
            sort: [name, nickname, rank, score, updated_at, nmae]

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:7:14: error: sort key 'nickname' must be required or have a default and not be nullable (keyset pagination cannot page over NULL values)",
            "schema/agents.yaml:7:24: error: sort key 'rank' must be required or have a default and not be nullable (keyset pagination cannot page over NULL values)",
            "schema/agents.yaml:7:49: error: sort key 'nmae' is not a field of Agent (did you mean 'name'?)",
        ])
    }

    @Test func sortAlwaysStartsWithCreatedAtUnlessListed() throws {
        let first = try #require(Fixture.resource(Fixture.agent(fields: "sort: [name]\n")))
        #expect(first.sort == ["created_at", "name"])
        let explicit = try #require(Fixture.resource(Fixture.agent(fields: "sort: [name, created_at]\n")))
        #expect(explicit.sort == ["name", "created_at"])
    }

    @Test func searchOperationNeedsASearchField() {
        #expect(Fixture.diagnostics(agents: Fixture.agent(fields: "operations: [list, search]\n")) == [
            "schema/agents.yaml:4:20: error: operation 'search' needs at least one field with a 'search' weight (A-D), e.g. name: { type: string, search: A }",
        ])
    }

    @Test func searchWeightWithoutSearchOperationIsFine() throws {
        let resource = try #require(Fixture.resource("resource: Agent\nfields:\n  name: { type: string, search: A }\n"))
        #expect(!resource.operations.contains(.search))
        #expect(resource.searchFields.map(\.name) == ["name"])
    }

    @Test func operationsAreCanonicallyOrderedAndNotRepeated() throws {
        let resource = try #require(Fixture.resource(Fixture.agent(fields: "operations: [delete, get, list]\n")))
        #expect(resource.operations == [.list, .get, .delete])
        #expect(Fixture.diagnostics(agents: Fixture.agent(fields: "operations: [get, get]\n")) == [
            "schema/agents.yaml:4:19: error: operation 'get' is listed twice",
        ])
    }

    @Test func indexesNameKnownColumns() throws {
        let yaml = Fixture.agent(fields: """
            indexes:
              - { fields: [name, created_at desc, id], unique: true }
              - { fields: [nme, workspace_id sideways] }
              - { fields: [] }

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:6:16: error: index column 'nme' is not a column of Agent (did you mean 'name'?)",
            "schema/agents.yaml:6:21: error: unknown index order 'sideways'; expected asc or desc",
            "schema/agents.yaml:7:15: error: an index needs at least one column in 'fields'",
        ])
        let resource = try #require(Fixture.resource(Fixture.agent(fields: "indexes: [{ fields: [name, version] }]\n")))
        #expect(resource.indexes.first?.columns == [IndexColumn(name: "name"), IndexColumn(name: "version")])
    }

    @Test func globalResourcesHaveNoWorkspaceColumn() {
        let yaml = Fixture.agent(fields: "tenancy: global\nindexes: [{ fields: [workspace_id] }]\n")
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:5:22: error: index column 'workspace_id' is not a column of Agent",
        ])
    }

    @Test func cacheRateLimitAndDeprecationAreValidated() {
        let yaml = Fixture.agent(fields: """
            cache: { ttl: 0, stale_while_revalidate: 1w }
            rate_limit: { per_minute: 0 }
            deprecated: { sunset: 2027-13-01, link: "ftp://x" }
            events: maybe

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:15: error: 'ttl' must be longer than zero; remove 'cache' to disable caching",
            "schema/agents.yaml:5:1: error: missing required key 'burst' in 'rate_limit'",
            "schema/agents.yaml:5:27: error: 'per_minute' must be a positive integer, found 0",
            "schema/agents.yaml:6:23: error: 'sunset' must be a date as YYYY-MM-DD, found '2027-13-01'",
            "schema/agents.yaml:7:9: error: expected true or false for 'events', found the string 'maybe'",
        ])
    }

    @Test func pathAndTableNamesAreChecked() {
        let yaml = "resource: Agent\ntable: Agents\npath: /agents\nfields:\n  name: { type: string }\n"
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:2:8: error: table name 'Agents' must be snake_case: a lowercase letter followed by lowercase letters, digits or '_'",
            "schema/agents.yaml:3:7: error: path '/agents' must be one URL segment of lowercase letters, digits, '-' and '_'",
        ])
        #expect(Fixture.diagnostics(agents: "resource: Webhook\nfields:\n  name: { type: string }\n") == [
            "schema/agents.yaml:1:11: error: path 'webhooks' (the table name) is reserved for built-in routes; set 'path'",
        ])
    }

    @Test func fieldsMustDeclareAtLeastOneField() {
        #expect(Fixture.diagnostics(agents: "resource: Agent\nfields: {}\n") == [
            "schema/agents.yaml:2:9: error: 'fields' must declare at least one field",
        ])
    }
}
