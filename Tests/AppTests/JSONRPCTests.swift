import App
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import TrellisRuntime

/// `POST /v1/rpc`: JSON-RPC 2.0 over the same service calls as REST, on real Postgres.
@Suite("JSON-RPC 2.0 on real Postgres")
struct JSONRPCTests {
    /// One call's answer object.
    private func call(
        _ client: APIClient, _ method: String, _ params: String? = nil, id: String = "1", headers: HTTPFields = [:],
        as credential: APIClient.Credential = .defaultKey
    ) async throws -> JSONObject {
        let body = #"{"jsonrpc":"2.0","method":"\#(method)","id":\#(id)"# + (params.map { #","params":\#($0)}"# } ?? "}")
        let response = try await client.send(.post, "/v1/rpc", json: body, headers: headers, as: credential)
        #expect(response.status == .ok, "\(method): \(response.text)")
        return try response.object()
    }

    private func result(_ answer: JSONObject) throws -> JSONObject {
        guard let result = answer["result"]?.object else { throw Unexpected(message: "expected a result, got \(answer)") }
        return result
    }

    /// `error.code`, `error.data.code` and `error.data.errors` as "path code" strings.
    private func error(_ answer: JSONObject) -> (code: Int64?, problem: String?, errors: [String]) {
        guard let error = answer["error"]?.object else { return (nil, nil, []) }
        var code: Int64?
        if case let .integer(value)? = error["code"] { code = value }
        let data = error["data"]?.object
        let errors = data?.array("errors").compactMap { $0.object.map { "\($0.string("path") ?? "?") \($0.string("code") ?? "?")" } } ?? []
        return (code, data?.string("code"), errors)
    }

    @Test func everyOperationOfAResourceIsAMethodThatAnswersWhatRESTAnswers() async throws {
        try await withApp { client, workspace in
            let created = try result(try await call(client, "agents.create", #"{"name":"Ada","tags":["x"],"model":"gpt"}"#))
            let id = try created.id()
            #expect(created.string("workspace_id") == workspace.lowercasedString)
            #expect(created["version"] == .integer(1))
            // The same object REST serves.
            #expect(try await client.send(.get, "/v1/agents/\(id)").object() == created)
            #expect(try result(try await call(client, "agents.get", #"{"id":"\#(id)"}"#)) == created)

            let updated = try result(try await call(client, "agents.update", #"{"id":"\#(id)","role":"analyst","temperature":1.25}"#))
            #expect(updated.string("role") == "analyst")
            #expect(updated["version"] == .integer(2))
            #expect(try await client.send(.get, "/v1/agents/\(id)").object() == updated)

            _ = try result(try await call(client, "agents.create", #"{"name":"Research lead","system_prompt":"research things"}"#))
            let restList = try await client.send(.get, "/v1/agents?limit=1&sort=name").object()
            let rpcList = try result(try await call(client, "agents.list", #"{"limit":1,"sort":"name"}"#))
            #expect(rpcList["data"] == restList["data"])
            #expect(rpcList["has_more"] == .bool(true))
            let next = try #require(rpcList.string("next_cursor"))
            let secondPage = try result(try await call(client, "agents.list", #"{"limit":1,"sort":"name","cursor":"\#(next)"}"#))
            #expect(try await client.send(.get, "/v1/agents?limit=1&sort=name&cursor=\(next)").object()["data"] == secondPage["data"])

            let found = try result(try await call(client, "agents.search", #"{"q":"research"}"#))
            #expect(found.array("data").count == 1)
            #expect(found.array("data").first?.object?["rank"] != nil)

            let deleted = try result(try await call(client, "agents.delete", #"{"id":"\#(id)"}"#))
            #expect(deleted == JSONObject(["id": .string(id), "deleted": .bool(true)]))
            #expect(try await client.send(.get, "/v1/agents/\(id)").status == .notFound)
        }
    }

    @Test("rpc.discover answers the committed OpenRPC document, which lists exactly the methods the server answers")
    func rpcDiscoverAnswersTheOpenRPCDocument() async throws {
        try await withApp { client, _ in
            let document = try result(try await call(client, "rpc.discover"))
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let committed = try JSONValue(parsing: Array(try Data(contentsOf: root.appendingPathComponent("openapi/openrpc.json"))))
            #expect(JSONValue.object(document) == committed)
            #expect(document.string("openrpc") == "1.3.2")
            let names = document.array("methods").compactMap { $0.object?.string("name") }
            #expect(Set(names) == Set(TrellisApp.api.rpcMethods.map(\.0)))
            #expect(names.count == Set(names).count)
        }
    }

    @Test func aBatchIsAnsweredInOrderAndANotificationRunsWithoutAnEntry() async throws {
        try await withApp { client, _ in
            let first = try result(try await call(client, "agents.create", #"{"name":"First"}"#)).id()
            let batch = """
                [{"jsonrpc":"2.0","method":"agents.get","params":{"id":"\(first)"},"id":1},
                 {"jsonrpc":"2.0","method":"agents.create","params":{"name":"Told, not asked"}},
                 {"jsonrpc":"2.0","method":"agents.nothing","id":"x"},
                 {"jsonrpc":"2.0","method":"agents.list","params":{"limit":5},"id":null}]
                """
            let response = try await client.send(.post, "/v1/rpc", json: batch)
            #expect(response.status == .ok)
            guard case let .array(entries) = try response.json else { Issue.record("not an array: \(response.text)"); return }
            #expect(entries.map { $0.object?["id"] } == [.integer(1), .string("x"), .null])
            #expect(entries[0].object?["result"]?.object?.string("id") == first)
            #expect(error(entries[1].object ?? JSONObject()).code == -32601)
            // The notification ran.
            let names = entries[2].object?["result"]?.object?.array("data").compactMap { $0.object?.string("name") } ?? []
            #expect(names.contains("Told, not asked"))

            // A batch of notifications only, and a lone notification, have no answer.
            let quiet = try await client.send(.post, "/v1/rpc", json: #"[{"jsonrpc":"2.0","method":"agents.list"}]"#)
            #expect(quiet.status == .noContent)
            #expect(try await client.send(.post, "/v1/rpc", json: #"{"jsonrpc":"2.0","method":"agents.list"}"#).status == .noContent)
        }
    }

    @Test func malformedRequestsGetTheProtocolsErrorCodes() async throws {
        try await withApp { client, _ in
            func answer(_ body: String) async throws -> JSONObject {
                let response = try await client.send(.post, "/v1/rpc", json: body)
                #expect(response.status == .ok, "\(body): \(response.status)")
                return try response.object()
            }
            let parse = try await answer(#"{"jsonrpc":"2.0","method":"agents.list","id":1"#)
            #expect(error(parse).code == -32700)
            #expect(parse["id"] == .null)
            #expect(error(try await answer("[]")).code == -32600)
            #expect(error(try await answer(#"{"jsonrpc":"1.0","method":"agents.list","id":1}"#)).code == -32600)
            #expect(error(try await answer(#"{"jsonrpc":"2.0","method":"agents.list","id":1,"extra":true}"#)).code == -32600)
            #expect(error(try await answer(#"{"jsonrpc":"2.0","method":7,"id":1}"#)).code == -32600)
            #expect(error(try await answer(#"{"jsonrpc":"2.0","method":"agents.list","id":{"no":1}}"#)).code == -32600)
            #expect(error(try await answer(#"{"jsonrpc":"2.0","method":"rpc.nothing","id":1}"#)).code == -32601)
            let positional = try await answer(#"{"jsonrpc":"2.0","method":"agents.get","params":["x"],"id":1}"#)
            #expect(error(positional).code == -32602)
            // An entry that is not an object is answered in place, with a null id.
            let response = try await client.send(.post, "/v1/rpc", json: #"[1, {"jsonrpc":"2.0","method":"agents.list","id":2}]"#)
            guard case let .array(entries) = try response.json else { Issue.record("not an array: \(response.text)"); return }
            #expect(entries.count == 2)
            #expect(error(entries[0].object ?? JSONObject()).code == -32600)
            #expect(entries[1].object?["result"] != nil)
            // Over the batch limit: one error for the whole request.
            let calls = Array(repeating: #"{"jsonrpc":"2.0","method":"agents.list","id":1}"#, count: TrellisApp.api.rpcMaxBatch + 1)
            let tooMany = try await answer("[" + calls.joined(separator: ",") + "]")
            #expect(error(tooMany).code == -32600)
        }
    }

    @Test func invalidParamsAre32602WithTheSameCodesAndPathsAsREST() async throws {
        try await withApp { client, _ in
            let body = #"{"name":"","temperature":9,"tags":"x","bogus":1}"#
            let rest = try await client.send(.post, "/v1/agents", json: body)
            #expect(rest.status == .unprocessableContent)
            let rpc = error(try await call(client, "agents.create", body))
            #expect(rpc.code == -32602)
            #expect(rpc.problem == "validation_failed")
            #expect(Set(rpc.errors) == Set(try problemErrors(rest)))
            #expect(rpc.errors.count == 4)

            // List parameters: the same rules, paths into params instead of /query/.
            let restQuery = try await client.send(.get, "/v1/agents?limit=0&sort=shoe&bogus=1")
            #expect(restQuery.status == .badRequest)
            let rpcQuery = error(try await call(client, "agents.list", #"{"limit":0,"sort":"shoe","bogus":1,"model":["x"]}"#))
            #expect(rpcQuery.code == -32602)
            #expect(rpcQuery.problem == "invalid_query")
            #expect(Set(rpcQuery.errors) == Set(try problemErrors(restQuery).map { $0.replacingOccurrences(of: "/query/", with: "/") })
                .union(["/model type"]))

            // get, update and delete need a UUID id and nothing else.
            #expect(error(try await call(client, "agents.get", #"{}"#)).errors == ["/id required"])
            #expect(error(try await call(client, "agents.get", #"{"id":"nope"}"#)).errors == ["/id format"])
            #expect(error(try await call(client, "agents.delete", #"{"id":"\#(UUID())","name":"x"}"#)).errors == ["/name unknown_field"])
            let patch = error(try await call(client, "agents.update", #"{"name":"","temperature":"hot"}"#))
            #expect(Set(patch.errors) == ["/id required", "/name too_short", "/temperature type"])
        }
    }

    @Test func anotherWorkspacesObjectIsNotFoundOnEveryMethod() async throws {
        let other = try await withApp { client, _ in
            try result(try await call(client, "agents.create", #"{"name":"Theirs"}"#)).id()
        }
        try await withApp { client, _ in
            for (method, params) in [
                ("agents.get", #"{"id":"\#(other)"}"#), ("agents.update", #"{"id":"\#(other)","name":"Mine now"}"#),
                ("agents.delete", #"{"id":"\#(other)"}"#),
            ] {
                let answer = error(try await call(client, method, params))
                #expect(answer.code == -32004, "\(method)")
                #expect(answer.problem == "not_found", "\(method)")
            }
            #expect(try await client.send(.get, "/v1/agents/\(other)").status == .notFound)
        }
    }

    @Test func aMissingScopeIsForbiddenAndAMissingCredentialIsAnHTTP401() async throws {
        try await withApp(scopes: ["agents:read"]) { client, _ in
            let refused = error(try await call(client, "agents.create", #"{"name":"Nope"}"#))
            #expect(refused.code == -32003)
            #expect(refused.problem == "insufficient_scope")
            #expect(try await call(client, "agents.list")["result"] != nil)
            let anonymous = try await client.send(
                .post, "/v1/rpc", json: #"{"jsonrpc":"2.0","method":"agents.list","id":1}"#, as: .anonymous)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.contentType] == "application/problem+json")
            let badKey = try await client.send(
                .post, "/v1/rpc", json: #"{"jsonrpc":"2.0","method":"agents.list","id":1}"#, as: .bearer("trk_nope"))
            #expect(badKey.status == .unauthorized)
        }
    }

    @Test func anAtomicBatchCommitsAllOrRollsBackEveryCallAndReportsTheFailureInEveryEntry() async throws {
        try await withApp { client, _ in
            let atomic: HTTPFields = [.trellisAtomic: "true"]
            let failing = """
                [{"jsonrpc":"2.0","method":"agents.create","params":{"name":"Atomic one"},"id":1},
                 {"jsonrpc":"2.0","method":"agents.create","params":{"name":"Atomic two"},"id":2},
                 {"jsonrpc":"2.0","method":"agents.update","params":{"id":"\(UUID())","name":"x"},"id":3}]
                """
            let response = try await client.send(.post, "/v1/rpc", json: failing, headers: atomic)
            #expect(response.status == .ok)
            guard case let .array(entries) = try response.json else { Issue.record("not an array: \(response.text)"); return }
            #expect(entries.count == 3)
            for entry in entries {
                let object = entry.object ?? JSONObject()
                #expect(error(object).code == -32004)
                #expect(object["error"]?.object?["data"]?.object?["failed_call"] == .integer(2))
            }
            #expect(entries.map { $0.object?["id"] } == [.integer(1), .integer(2), .integer(3)])
            let names = try await client.send(.get, "/v1/agents?limit=100").object().array("data").compactMap { $0.object?.string("name") }
            #expect(!names.contains("Atomic one") && !names.contains("Atomic two"), "a rolled-back batch left \(names)")

            // A validation failure after writes rolls them back too.
            let invalid = """
                [{"jsonrpc":"2.0","method":"agents.create","params":{"name":"Atomic three"},"id":1},
                 {"jsonrpc":"2.0","method":"agents.create","params":{"name":""},"id":2}]
                """
            let refused = try await client.send(.post, "/v1/rpc", json: invalid, headers: atomic)
            guard case let .array(refusedEntries) = try refused.json else { Issue.record("not an array: \(refused.text)"); return }
            #expect(refusedEntries.allSatisfy { error($0.object ?? JSONObject()).code == -32602 })
            #expect(try await call(client, "agents.search", #"{"q":"Atomic"}"#)["result"]?.object?.array("data").isEmpty == true)

            // And when every call succeeds, every one is committed.
            let good = """
                [{"jsonrpc":"2.0","method":"agents.create","params":{"name":"Atomic four"},"id":1},
                 {"jsonrpc":"2.0","method":"agents.create","params":{"name":"Atomic five"},"id":2}]
                """
            let committed = try await client.send(.post, "/v1/rpc", json: good, headers: atomic)
            guard case let .array(goodEntries) = try committed.json else { Issue.record("not an array: \(committed.text)"); return }
            let ids = goodEntries.compactMap { $0.object?["result"]?.object?.string("id") }
            #expect(ids.count == 2)
            for id in ids { #expect(try await client.send(.get, "/v1/agents/\(id)").status == .ok) }
        }
    }
}
