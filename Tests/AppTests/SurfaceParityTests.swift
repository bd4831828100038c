import App
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import TrellisContract
@testable import TrellisRuntime

/// The same input through REST, JSON-RPC and GraphQL: the same stored row, the same audit
/// entries, the same problem codes for the same bad input (issue 9, item 10).
@Suite("REST, JSON-RPC and GraphQL are one service")
struct SurfaceParityTests {
    /// The input of each surface, as its own spelling of the same agent.
    static let restBody = #"{"name":"Parity","role":"tester","system_prompt":"Same everywhere","model":"gemini","temperature":1.5,"tags":["a","b"],"config":{"k":[1,"x"]},"owner_email":"p@example.com"}"#
    static let graphQLInput = #"{name: "Parity", role: "tester", systemPrompt: "Same everywhere", model: gemini, temperature: 1.5, tags: ["a", "b"], config: {k: [1, "x"]}, ownerEmail: "p@example.com"}"#

    /// An object without what differs between two creates of the same input.
    static func comparable(_ object: JSONObject?) -> JSONObject {
        JSONObject((object?.members ?? []).filter { !["id", "created_at", "updated_at"].contains($0.key) })
    }

    @Test func theSameInputStoresTheSameRowAndTheSameAuditEntryOnEverySurface() async throws {
        try await withApp { client, workspace in
            let rest = try await client.send(.post, "/v1/agents", json: Self.restBody).object().id()
            let rpcAnswer = try await client.send(
                .post, "/v1/rpc", json: #"{"jsonrpc":"2.0","method":"agents.create","params":\#(Self.restBody),"id":1}"#).object()
            let rpc = try #require(rpcAnswer["result"]?.object).id()
            let graphQLBody = #"{"query":\#(JSONValue.string("mutation { createAgent(input: \(Self.graphQLInput)) { id } }").jsonText)}"#
            let graphQLAnswer = try await client.send(.post, "/v1/graphql", json: graphQLBody).object()
            let graphQL = try #require(graphQLAnswer["data"]?.object?["createAgent"]?.object, "\(graphQLAnswer)").id()

            let stored = try await [rest, rpc, graphQL].asyncMap { try await client.send(.get, "/v1/agents/\($0)").object() }
            #expect(Self.comparable(stored[1]) == Self.comparable(stored[0]))
            #expect(Self.comparable(stored[2]) == Self.comparable(stored[0]))

            let entries = try await AuditLogTests.entries(workspace, resource: "agents")
            for id in [rest, rpc, graphQL] {
                #expect(entries.filter { $0.resourceID == id }.map(\.action) == ["agent.created"], "\(id)")
            }
            let images = [rest, rpc, graphQL].map { id in Self.comparable(entries.first { $0.resourceID == id }?.after?.object) }
            #expect(images[1] == images[0] && images[2] == images[0])
            #expect(images[0].string("owner_email") == "[redacted]")
        }
    }

    /// A REST object with its keys as GraphQL names them.
    static func camelCased(_ object: JSONObject) -> JSONObject {
        JSONObject(object.members.map { JSONObject.Member(key: GraphQLNames.camel($0.key), value: $0.value) })
    }

    /// Every column of `R`'s object type, as a selection.
    static func everyField<R: Resource>(_: R.Type) -> String {
        R.descriptor.columns.map { GraphQLNames.camel($0.name) }.joined(separator: " ")
    }

    /// A list writes its rows without decoding the models (``ColumnProjection/write(_:to:)``);
    /// a `get` and a create's answer write the model. Their bytes must be the same.
    @Test func everyListWritesEachObjectByteForByteAsTheModelDoes() async throws {
        try await withApp { client, _ in
            let swarm = try await client.send(
                .post, "/v1/swarms", json: #"{"name":"Pärity \"q\"","description":"line\nbreak\ttab \\ é😀","config":{"x":[true,1.5,-2,null,"s"],"y":{}},"max_agents":7}"#)
            let swarmID = try swarm.object().id()
            let agent = try await client.send(
                .post, "/v1/agents",
                json: #"{"name":"Pärity","system_prompt":"\u0001 ctl \"q\" \u00e9","model":"gemini","temperature":0.1,"swarm_id":"\#(swarmID)","tags":["a","b,c","é"],"config":{"k":[1,"x",null],"n":1e3}}"#)
            let agentID = try agent.object().id()
            let message = try await client.send(
                .post, "/v1/messages", json: #"{"swarm_id":"\#(swarmID)","agent_id":"\#(agentID)","role":"assistant","content":"Parity text","tokens":42}"#)
            let tool = try await client.send(.post, "/v1/tools", json: #"{"name":"parity-tool","description":"t","input_schema":{"type":"object"},"enabled":false}"#)
            for (path, created) in [("swarms", swarm), ("agents", agent), ("messages", message), ("tools", tool)] {
                #expect(created.status == .created, "\(path): \(created.text)")
                let id = try created.object().id()
                let got = try await client.send(.get, "/v1/\(path)/\(id)")
                #expect(got.text == created.text, "\(path)")
                let listed = try await client.send(.get, "/v1/\(path)?limit=100")
                #expect(listed.status == .ok)
                #expect(listed.text.contains(got.text), "\(path): \(listed.text) does not hold \(got.text)")
                #expect(listed.text.hasPrefix(#"{"data":[{"id":""#), "\(path)")
            }
        }
    }

    @Test func graphQLReadsEveryColumnOfEveryResourceAsRESTWritesIt() async throws {
        try await withApp { client, _ in
            let swarm = try await client.send(.post, "/v1/swarms", json: #"{"name":"Parity","description":"d","goal":"g","config":{"x":[true]},"max_agents":7}"#).object()
            let swarmID = try swarm.id()
            let agentBody = #"{"name":"Parity","role":"tester","system_prompt":"Same","model":"gemini","temperature":0.7,"swarm_id":"\#(swarmID)","tags":["a","b"],"config":{"k":[1,"x",null]},"owner_email":"p@example.com"}"#
            let agentID = try await client.send(.post, "/v1/agents", json: agentBody).object().id()
            let messageID = try await client.send(
                .post, "/v1/messages", json: #"{"swarm_id":"\#(swarmID)","agent_id":"\#(agentID)","role":"assistant","content":"Parity text","tokens":42}"#).object().id()
            let toolID = try await client.send(
                .post, "/v1/tools", json: #"{"name":"parity-tool","description":"t","input_schema":{"type":"object"},"enabled":false}"#).object().id()

            let (agent, swarmFields, message) = (Self.everyField(Agent.self), Self.everyField(Swarm.self), Self.everyField(Message.self))
            let query = """
                { agent(id: "\(agentID)") { \(agent) swarm { \(swarmFields) } }
                  agents(first: 5) { edges { node { \(agent) } } }
                  searchAgents(q: "Parity") { edges { node { \(agent) } } }
                  swarm(id: "\(swarmID)") { \(swarmFields) agents(first: 5) { edges { node { \(agent) } } } }
                  message(id: "\(messageID)") { \(message) agent { \(agent) } swarm { \(swarmFields) } }
                  tool(id: "\(toolID)") { \(Self.everyField(Tool.self)) } }
                """
            let answer = try await client.send(.post, "/v1/graphql", json: #"{"query":\#(JSONValue.string(query).jsonText)}"#).object()
            #expect(answer["errors"] == nil, "\(answer)")
            let data = try #require(answer["data"]?.object)
            let rest = try await (
                agent: Self.camelCased(client.send(.get, "/v1/agents/\(agentID)").object()),
                swarm: Self.camelCased(client.send(.get, "/v1/swarms/\(swarmID)").object()),
                message: Self.camelCased(client.send(.get, "/v1/messages/\(messageID)").object()))
            func without(_ object: JSONObject?, _ keys: String...) -> JSONObject {
                JSONObject((object?.members ?? []).filter { !keys.contains($0.key) })
            }
            func node(_ connection: JSONValue?) -> JSONObject? {
                connection?.object?.array("edges").first?.object?["node"]?.object
            }
            #expect(without(data["agent"]?.object, "swarm") == rest.agent)
            #expect(data["agent"]?.object?["swarm"]?.object == rest.swarm)
            #expect(node(data["agents"]) == rest.agent)
            #expect(node(data["searchAgents"]) == rest.agent)
            #expect(without(data["swarm"]?.object, "agents") == rest.swarm)
            #expect(node(data["swarm"]?.object?["agents"]) == rest.agent)
            #expect(without(data["message"]?.object, "agent", "swarm") == rest.message)
            #expect(data["message"]?.object?["agent"]?.object == rest.agent)
            #expect(data["message"]?.object?["swarm"]?.object == rest.swarm)
            #expect(data["tool"]?.object == Self.camelCased(try await client.send(.get, "/v1/tools/\(toolID)").object()))
        }
    }

    @Test func theSameBadInputIsTheSameProblemOnEverySurface() async throws {
        try await withApp { client, _ in
            let bad = #"{"name":"","temperature":9,"tags":["ok",7]}"#
            let rest = try await client.send(.post, "/v1/agents", json: bad)
            #expect(rest.status == .unprocessableContent)
            let restErrors = Set(try problemErrors(rest))

            let rpc = try await client.send(.post, "/v1/rpc", json: #"{"jsonrpc":"2.0","method":"agents.create","params":\#(bad),"id":1}"#).object()
            let rpcData = rpc["error"]?.object?["data"]?.object
            #expect(rpc["error"]?.object?["code"] == .integer(-32602))
            #expect(rpcData?.string("code") == "validation_failed")
            #expect(Set(rpcData?.array("errors").compactMap { $0.object.map { "\($0.string("path") ?? "") \($0.string("code") ?? "")" } } ?? []) == restErrors)

            let graphQL = try await client.send(
                .post, "/v1/graphql", json: #"{"query":"mutation($in: AgentCreateInput!) { createAgent(input: $in) { id } }","variables":{"in":\#(bad)}}"#).object()
            let extensions = graphQL.array("errors").first?.object?["extensions"]?.object
            #expect(extensions?.string("code") == "validation_failed")
            // The same fields, named as the input names them (these three are the same in both spellings).
            #expect(Set(extensions?.array("errors").compactMap { $0.object.map { "\($0.string("path") ?? "") \($0.string("code") ?? "")" } } ?? []) == restErrors)
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        out.reserveCapacity(count)
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
