import App
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import TrellisRuntime

/// `/v1/graphql`: GraphQL over the same service calls as REST, on real Postgres.
@Suite("GraphQL on real Postgres")
struct GraphQLTests {
    @Test func anObjectIsTheRESTObjectWithCamelCaseNamesAndItsNodeIdFindsItAgain() async throws {
        try await withApp { client, _ in
            let rest = try await client.send(.post, "/v1/agents", json: #"{"name":"Ada","system_prompt":"Be brief","tags":["x"],"config":{"k":1}}"#).object()
            let id = try rest.id()
            let answer = try await graphQL(client, """
                query One($id: ID!) { agent(id: $id) { __typename id nodeId name systemPrompt isActive tags config createdAt version
                  ... on Agent { alias: model } } }
                """, variables: #"{"id":"\#(id)"}"#)
            #expect(answer["errors"] == nil, "\(answer)")
            let agent = try #require(answer["data"]?.object?["agent"]?.object)
            #expect(agent.string("__typename") == "Agent")
            #expect(agent.string("id") == id)
            #expect(agent["systemPrompt"] == rest["system_prompt"])
            #expect(agent["isActive"] == rest["is_active"])
            #expect(agent["tags"] == rest["tags"])
            #expect(agent["config"] == rest["config"])
            #expect(agent["createdAt"] == rest["created_at"])
            #expect(agent["alias"] == rest["model"])
            let nodeID = try #require(agent.string("nodeId"))
            let node = try await graphQL(client, #"query($n: ID!) { node(nodeId: $n) { nodeId ... on Agent { id name } } }"#, variables: #"{"n":"\#(nodeID)"}"#)
            #expect(node["data"]?.object?["node"]?.object?.string("id") == id)
            #expect(node["data"]?.object?["node"]?.object?.string("name") == "Ada")
        }
    }

    @Test func mutationsCreateUpdateAndDeleteThroughTheServiceCalls() async throws {
        try await withApp { client, _ in
            let created = try await graphQL(client, #"mutation { createAgent(input: {name: "Grace", systemPrompt: "Hi", model: gpt}) { id name systemPrompt model version } }"#)
            let agent = try #require(created["data"]?.object?["createAgent"]?.object, "\(created)")
            let id = try agent.id()
            #expect(agent.string("model") == "gpt")
            let rest = try await client.send(.get, "/v1/agents/\(id)").object()
            #expect(rest.string("system_prompt") == "Hi")

            let updated = try await graphQL(client, #"mutation($id: ID!) { updateAgent(id: $id, input: {role: "admiral"}, ifVersion: 1) { role version } }"#, variables: #"{"id":"\#(id)"}"#)
            #expect(updated["data"]?.object?["updateAgent"]?.object?["version"] == .integer(2), "\(updated)")
            // A stale version is refused, as If-Match is on REST.
            let stale = try await graphQL(client, #"mutation($id: ID!) { updateAgent(id: $id, input: {role: "x"}, ifVersion: 1) { version } }"#, variables: #"{"id":"\#(id)"}"#)
            #expect(errorCodes(stale) == ["precondition_failed"])
            #expect(stale["data"] == .null)

            let deleted = try await graphQL(client, #"mutation($id: ID!) { deleteAgent(id: $id) { id deleted } }"#, variables: #"{"id":"\#(id)"}"#)
            #expect(deleted["data"]?.object?["deleteAgent"]?.object?["deleted"] == .bool(true))
            #expect(try await client.send(.get, "/v1/agents/\(id)").status == .notFound)
        }
    }

    @Test func invalidInputIsValidationFailedWithTheRESTCodesAtPathsIntoTheInput() async throws {
        try await withApp { client, _ in
            let answer = try await graphQL(
                client, #"mutation($in: AgentCreateInput!) { createAgent(input: $in) { id } }"#,
                variables: #"{"in":{"name":"","temperature":9,"systemPrompt":7}}"#)
            #expect(answer["data"] == .null)
            let error = try #require(answer.array("errors").first?.object)
            #expect(error["path"] == .array([.string("createAgent")]))
            let extensions = try #require(error["extensions"]?.object)
            #expect(extensions.string("code") == "validation_failed")
            let paths = Set(extensions.array("errors").compactMap { $0.object.map { "\($0.string("path") ?? "") \($0.string("code") ?? "")" } })
            #expect(paths == ["/name too_short", "/temperature too_large", "/systemPrompt type"])
            // REST reports the same codes at its own names.
            let rest = try await client.send(.post, "/v1/agents", json: #"{"name":"","temperature":9,"system_prompt":7}"#)
            #expect(Set(try problemErrors(rest)) == ["/name too_short", "/temperature too_large", "/system_prompt type"])
        }
    }

    @Test func anotherWorkspacesObjectIsNotFoundByIdAndByNodeId() async throws {
        let (other, otherNode) = try await withApp { client, _ in
            let id = try await client.send(.post, "/v1/agents", json: #"{"name":"Theirs"}"#).object().id()
            let node = try await graphQL(client, #"query($id: ID!) { agent(id: $id) { nodeId } }"#, variables: #"{"id":"\#(id)"}"#)
            return (id, node["data"]?.object?["agent"]?.object?.string("nodeId") ?? "")
        }
        try await withApp { client, _ in
            let byID = try await graphQL(client, #"query($id: ID!) { agent(id: $id) { name } }"#, variables: #"{"id":"\#(other)"}"#)
            #expect(byID["data"]?.object?["agent"] == .null)
            #expect(errorCodes(byID) == ["not_found"])
            let byNode = try await graphQL(client, #"query($n: ID!) { node(nodeId: $n) { nodeId } }"#, variables: #"{"n":"\#(otherNode)"}"#)
            #expect(byNode["data"]?.object?["node"] == .null)
            #expect(errorCodes(byNode) == ["not_found"])
            let update = try await graphQL(client, #"mutation($id: ID!) { updateAgent(id: $id, input: {name: "Mine"}) { id } }"#, variables: #"{"id":"\#(other)"}"#)
            #expect(errorCodes(update) == ["not_found"])
        }
    }

    @Test func aMissingScopeIsAnErrorOnTheFieldAndAMissingCredentialIsAnHTTP401() async throws {
        try await withApp(scopes: ["agents:read"]) { client, _ in
            let answer = try await graphQL(client, #"mutation { createAgent(input: {name: "No"}) { id } }"#)
            #expect(errorCodes(answer) == ["insufficient_scope"])
            let anonymous = try await client.send(.post, "/v1/graphql", json: #"{"query":"{ __typename }"}"#, as: .anonymous)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test func aRepeatedDocumentIsParsedOnceAndAPersistedHashAloneRunsIt() async throws {
        try await withApp { client, _ in
            let query = "query Probe { __typename }"
            let hash = GraphQLDocumentCache.hash(query)
            let extensions = #"{"persistedQuery":{"version":1,"sha256Hash":"\#(hash)"}}"#
            let encoded = extensions.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            // Unknown hash: the client is told to send the document.
            let unknown = try await client.send(.get, "/v1/graphql?extensions=\(encoded)").object()
            #expect(errorCodes(unknown) == ["PERSISTED_QUERY_NOT_FOUND"])
            // Sent once with its hash, then the hash alone is enough, on GET too.
            let first = try await client.send(.post, "/v1/graphql", json: #"{"query":"\#(query)","extensions":\#(extensions)}"#).object()
            #expect(first["data"]?.object?.string("__typename") == "Query")
            let again = try await client.send(.get, "/v1/graphql?extensions=\(encoded)").object()
            #expect(again["data"]?.object?.string("__typename") == "Query", "\(again)")
            let wrongHash = String(repeating: "0", count: 64)
            let mismatch = try await client.send(
                .post, "/v1/graphql", json: #"{"query":"\#(query)","extensions":{"persistedQuery":{"version":1,"sha256Hash":"\#(wrongHash)"}}}"#).object()
            #expect(errorCodes(mismatch) == ["PERSISTED_QUERY_HASH_MISMATCH"])
        }
    }

    @Test func limitsAndBadDocumentsAreRefusedBeforeAnySQLWithTheMeasuredValue() async throws {
        try await withApp { client, _ in
            // 11 levels: agent swarm agents edges node swarm agents edges node swarm name.
            let deep = "{ agent(id: \"\(UUID())\") { swarm { agents { edges { node { swarm { agents { edges { node { swarm { name } } } } } } } } } } }"
            let tooDeep = try await graphQL(client, deep)
            #expect(errorCodes(tooDeep) == ["QUERY_TOO_DEEP"])
            #expect(tooDeep.array("errors").first?.object?.string("message") == "The query is 11 levels deep; the limit is 10")
            let aliases = "{ " + (0...31).map { "a\($0): __typename" }.joined(separator: " ") + " }"
            let tooMany = try await graphQL(client, aliases)
            #expect(errorCodes(tooMany) == ["TOO_MANY_ALIASES"])
            #expect(tooMany.array("errors").first?.object?.string("message")?.contains("32") == true)
            // Fragments spread twice in each other, 20 times over: a million fields from 1 KB.
            let bomb = "query { ...F20 }\nfragment F0 on Query { __typename }\n"
                + (1...20).map { "fragment F\($0) on Query { ...F\($0 - 1) ...F\($0 - 1) }" }.joined(separator: "\n")
            let started = ContinuousClock.now
            #expect(errorCodes(try await graphQL(client, bomb)) == ["QUERY_TOO_LARGE"])
            #expect(ContinuousClock.now - started < .seconds(5), "a fragment bomb took \(ContinuousClock.now - started)")
            let big = "{ __typename " + String(repeating: " ", count: 33_000) + "}"
            #expect(errorCodes(try await graphQL(client, big)) == ["DOCUMENT_TOO_LARGE"])
            #expect(errorCodes(try await graphQL(client, "{ agent(id: ")) == ["GRAPHQL_PARSE_FAILED"])
            #expect(errorCodes(try await graphQL(client, "{ agent(id: \"x\") { nope } }")) == ["GRAPHQL_VALIDATION_FAILED"])
            let viaGET = try await client.send(.get, "/v1/graphql?query=" + ("mutation { deleteAgent(id: \"\(UUID())\") { id } }".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")).object()
            #expect(errorCodes(viaGET) == ["METHOD_NOT_ALLOWED"])
        }
    }

    @Test func introspectionAndTheSDLDescribeTheGeneratedSchema() async throws {
        try await withApp { client, _ in
            let answer = try await graphQL(client, "{ __schema { queryType { name } } __type(name: \"Agent\") { fields { name } } }")
            #expect(answer["data"]?.object?["__schema"]?.object?["queryType"]?.object?.string("name") == "Query", "\(answer)")
            let fields = answer["data"]?.object?["__type"]?.object?.array("fields").compactMap { $0.object?.string("name") } ?? []
            #expect(fields.contains("systemPrompt") && fields.contains("nodeId"))
            let sdl = try await client.send(.get, "/v1/graphql/schema.graphql")
            #expect(sdl.status == .ok)
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            #expect(sdl.text == (try String(contentsOf: root.appendingPathComponent("openapi/schema.graphql"), encoding: .utf8)))
        }
    }

    @Test func aConnectionPagesFiltersAndSortsAsTheRESTListDoes() async throws {
        try await withApp { client, _ in
            for (name, model) in [("Cleo", "gpt"), ("Abe", "claude"), ("Bea", "gpt")] {
                _ = try await client.send(.post, "/v1/agents", json: #"{"name":"\#(name)","model":"\#(model)"}"#).object().id()
            }
            let query = """
                query($after: String) { agents(first: 2, after: $after, sort: NAME_ASC) {
                  totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }
                """
            let first = try await graphQL(client, query)
            let connection = try #require(first["data"]?.object?["agents"]?.object, "\(first)")
            let names = connection.array("edges").compactMap { $0.object?["node"]?.object?.string("name") }
            #expect(names == ["Abe", "Bea"])
            let rest = try await client.send(.get, "/v1/agents?limit=2&sort=name").object()
            #expect(names == rest.array("data").compactMap { $0.object?.string("name") })
            #expect(connection["totalCount"] == .integer(3))
            let info = try #require(connection["pageInfo"]?.object)
            #expect(info["hasNextPage"] == .bool(true))
            let end = try #require(info.string("endCursor"))
            #expect(connection.array("edges").last?.object?.string("cursor") == end)
            let second = try await graphQL(client, query, variables: #"{"after":"\#(end)"}"#)
            let rest2 = second["data"]?.object?["agents"]?.object
            #expect(rest2?.array("edges").compactMap { $0.object?["node"]?.object?.string("name") } == ["Cleo"])
            #expect(rest2?["pageInfo"]?.object?["hasNextPage"] == .bool(false))

            let filtered = try await graphQL(client, "{ agents(filter: {model: gpt}, sort: NAME_DESC) { edges { node { name } } } }")
            #expect(filtered["data"]?.object?["agents"]?.object?.array("edges").compactMap { $0.object?["node"]?.object?.string("name") } == ["Cleo", "Bea"])
            // REST's rules on the arguments, with paths into them.
            let bad = try await graphQL(client, "{ agents(first: 0) { totalCount } }")
            let error = try #require(bad.array("errors").first?.object?["extensions"]?.object)
            #expect(error.string("code") == "invalid_query")
            #expect(error.array("errors").first?.object?.string("path") == "/first")
        }
    }

    @Test("swarms(first: 50) { agents(first: 10) { swarm } } runs 3 statements, whatever the page sizes")
    func nestedRelationsRunOneStatementPerLevel() async throws {
        try await withApp { client, _ in
            var swarms: [String: String] = [:]
            for s in 0..<4 {
                let id = try await client.send(.post, "/v1/swarms", json: #"{"name":"Swarm \#(s)"}"#).object().id()
                swarms[id] = "Swarm \(s)"
                for a in 0..<3 {
                    _ = try await client.send(.post, "/v1/agents", json: #"{"name":"Agent \#(s)-\#(a)","swarm_id":"\#(id)"}"#).object().id()
                }
            }
            _ = try await client.send(.post, "/v1/agents", json: #"{"name":"Alone"}"#).object().id()
            for (swarmsFirst, agentsFirst) in [(50, 10), (2, 1)] {
                let answer = try await graphQL(client, """
                    { swarms(first: \(swarmsFirst)) { edges { node { id name agents(first: \(agentsFirst)) { edges { node { name swarm { name } } } } } } } }
                    """)
                #expect(answer["errors"] == nil, "\(answer)")
                #expect(answer["extensions"]?.object?["cost"]?.object?["statements"] == .integer(3), "\(answer["extensions"] ?? .null)")
                let edges = answer["data"]?.object?["swarms"]?.object?.array("edges") ?? []
                #expect(edges.count == min(swarmsFirst, 4))
                for edge in edges {
                    let swarm = try #require(edge.object?["node"]?.object)
                    let agents = swarm["agents"]?.object?.array("edges") ?? []
                    #expect(agents.count == min(agentsFirst, 3))
                    for agent in agents {
                        // Each agent's swarm is the swarm it is listed under.
                        #expect(agent.object?["node"]?.object?["swarm"]?.object?.string("name") == swarm.string("name"))
                        #expect(agent.object?["node"]?.object?.string("name")?.hasPrefix("Agent") == true)
                    }
                }
            }
            // An agent without a swarm has a null swarm; search ranks its matches.
            let alone = try await graphQL(client, #"{ searchAgents(q: "Alone") { edges { rank node { name swarm { id } } } } }"#)
            let hit = try #require(alone["data"]?.object?["searchAgents"]?.object?.array("edges").first?.object, "\(alone)")
            #expect(hit["node"]?.object?["swarm"] == .null)
            if case let .double(rank)? = hit["rank"] { #expect(rank > 0) } else { Issue.record("no rank: \(hit)") }
        }
    }

    /// Fields are answered in the order first asked, each key once however many fragments
    /// ask for it (the answer is written straight from the rows, not built as objects first).
    @Test func aFieldAskedTwiceIsAnsweredOnceWhereItWasFirstAskedAtEveryLevel() async throws {
        try await withApp { client, _ in
            let swarm = try await client.send(.post, "/v1/swarms", json: #"{"name":"Fleet"}"#).object().id()
            for a in 0..<2 {
                _ = try await client.send(.post, "/v1/agents", json: #"{"name":"Pilot \#(a)","swarm_id":"\#(swarm)"}"#).object()
            }
            let answer = try await graphQL(client, """
                { swarms(first: 5) { __typename totalCount edges { __typename cursor node { name ...S id name } } pageInfo { hasNextPage endCursor } totalCount } }
                fragment S on Swarm { nodeId name agents(first: 1) { totalCount edges { node { name swarm { name id name } } } pageInfo { hasNextPage } } }
                """)
            #expect(answer["errors"] == nil, "\(answer)")
            let swarms = try #require(answer["data"]?.object?["swarms"]?.object, "\(answer)")
            #expect(swarms.members.map(\.key) == ["__typename", "totalCount", "edges", "pageInfo"])
            #expect(swarms["__typename"] == .string("SwarmConnection"))
            #expect(swarms["totalCount"] == .integer(1))
            #expect(swarms["pageInfo"]?.object?.members.map(\.key) == ["hasNextPage", "endCursor"])
            #expect(swarms["pageInfo"]?.object?["hasNextPage"] == .bool(false))
            let edge = try #require(swarms.array("edges").first?.object)
            #expect(edge.members.map(\.key) == ["__typename", "cursor", "node"])
            #expect(edge["__typename"] == .string("SwarmEdge"))
            #expect(swarms["pageInfo"]?.object?["endCursor"] == edge["cursor"])
            let node = try #require(edge["node"]?.object)
            #expect(node.members.map(\.key) == ["name", "nodeId", "agents", "id"])
            #expect(node["name"] == .string("Fleet"))
            #expect(node["id"] == .string(swarm))
            let agents = try #require(node["agents"]?.object)
            #expect(agents.members.map(\.key) == ["totalCount", "edges", "pageInfo"])
            #expect(agents["totalCount"] == .integer(2))
            #expect(agents["pageInfo"]?.object?["hasNextPage"] == .bool(true))
            let pilot = try #require(agents.array("edges").first?.object?["node"]?.object)
            #expect(pilot.members.map(\.key) == ["name", "swarm"])
            #expect(pilot["swarm"]?.object?.members.map(\.key) == ["name", "id"])
            #expect(pilot["swarm"]?.object?["id"] == .string(swarm))
        }
    }

    @Test func aQueryOverTheComplexityBudgetIsRefusedWithItsMeasuredCost() async throws {
        try await withApp { client, _ in
            let answer = try await graphQL(client, "{ swarms(first: 100) { edges { node { agents(first: 100) { edges { node { id } } } } } } }")
            #expect(errorCodes(answer) == ["COMPLEXITY_OVER_BUDGET"])
            let message = answer.array("errors").first?.object?.string("message") ?? ""
            #expect(message.contains("budget is 5000"), "\(message)")
            #expect(answer["data"] == nil)
        }
    }

    @Test func graphiQLIsServedForTheEndpointWithTheKeyFromTheFragment() async throws {
        try await withApp { client, _ in
            let page = try await client.send(.get, "/graphiql", as: .anonymous)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.text.contains(#"createFetcher({ url: "/v1/graphql" })"#))
            #expect(page.text.contains("https://unpkg.com/graphiql@3/graphiql.min.js"))
            #expect(page.text.contains("window.location.hash"))
        }
        // From a local folder when configured.
        let local = GraphiQLPage.page(assetBase: "/graphiql/assets")
        #expect(local.contains("/graphiql/assets/graphiql.min.js") && !local.contains("unpkg.com"))
    }
}
