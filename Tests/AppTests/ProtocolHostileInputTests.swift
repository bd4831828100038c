import App
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import TrellisContract
@testable import TrellisRuntime

/// JSON-RPC and GraphQL attacked as a hostile tenant would: forged cursors and global ids,
/// oversize bodies. (Other workspaces' ids and missing scopes: JSONRPCTests, GraphQLTests and
/// the route-scope invariant.)
@Suite("JSON-RPC and GraphQL refuse forged and oversize input")
struct ProtocolHostileInputTests {
    @Test func aForgedCursorIsInvalidQueryOnBothSurfaces() async throws {
        try await withApp { client, _ in
            for name in ["A", "B", "C"] { _ = try await client.send(.post, "/v1/agents", json: #"{"name":"\#(name)"}"#) }
            let page = try await client.send(.get, "/v1/agents?limit=1").object()
            let cursor = try #require(page.string("next_cursor"))
            // Flip one character of the signed payload: the signature no longer matches.
            var forged = Array(cursor)
            forged[2] = forged[2] == "A" ? "B" : "A"
            let edited = String(forged)

            let rpc = try await client.send(
                .post, "/v1/rpc", json: #"{"jsonrpc":"2.0","method":"agents.list","params":{"limit":1,"cursor":"\#(edited)"},"id":1}"#).object()
            #expect(rpc["error"]?.object?["code"] == .integer(-32602))
            #expect(rpc["error"]?.object?["data"]?.object?.string("code") == "invalid_query")

            let gql = try await client.send(
                .post, "/v1/graphql", json: #"{"query":"query($a: String) { agents(first: 1, after: $a) { edges { node { id } } } }","variables":{"a":"\#(edited)"}}"#).object()
            let error = gql.array("errors").first?.object?["extensions"]?.object
            #expect(error?.string("code") == "invalid_query")
            #expect(error?.array("errors").first?.object?.string("path") == "/after")
        }
    }

    @Test func aForgedOrForeignNodeIdIsNotFound() async throws {
        let theirs = try await withApp { client, _ in try await client.send(.post, "/v1/agents", json: #"{"name":"Theirs"}"#).object().id() }
        try await withApp { client, _ in
            let candidates = [
                GraphQLNames.nodeID(type: "Agent", id: theirs),  // another workspace's agent
                GraphQLNames.nodeID(type: "Nope", id: theirs),  // a type that does not exist
                GraphQLNames.nodeID(type: "Agent", id: "not-a-uuid"),
                "%%%not base64%%%", String(repeating: "A", count: 5_000),
            ]
            for nodeID in candidates {
                let answer = try await client.send(
                    .post, "/v1/graphql", json: #"{"query":"query($n: ID!) { node(nodeId: $n) { nodeId } }","variables":{"n":"\#(nodeID)"}}"#)
                #expect(answer.status == .ok)
                let object = try answer.object()
                #expect(object["data"]?.object?["node"] == .null, "\(nodeID.prefix(40))")
                #expect(object.array("errors").first?.object?["extensions"]?.object?.string("code") == "not_found", "\(nodeID.prefix(40))")
            }
        }
    }

    @Test func anOversizeBodyIs413AndAWrongMediaType415OnBothSurfaces() async throws {
        try await withApp { client, _ in
            let huge = #"{"jsonrpc":"2.0","method":"agents.create","params":{"name":""# + String(repeating: "x", count: 2 << 20) + #""},"id":1}"#
            for path in ["/v1/rpc", "/v1/graphql"] {
                let big = try await client.send(.post, path, json: huge)
                #expect(big.status == .contentTooLarge, "\(path)")
                let text = try await client.send(.post, path, json: "{}", headers: [.contentType: "text/plain"])
                #expect(text.status == .unsupportedMediaType, "\(path)")
            }
        }
    }
}
