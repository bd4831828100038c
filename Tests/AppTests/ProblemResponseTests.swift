import Foundation
import HummingbirdTesting
import NIOCore
import Testing
@testable import TrellisRuntime

@Suite("RFC 9457 problem responses")
struct ProblemResponseTests {
    @Test func validationCollectsEveryProblemWithJSONPointerPaths() async throws {
        try await withApp { client, _ in
            let body = #"{"name":"","tags":["ok",7],"temperature":9,"model":"llama","owner_email":"x","id":"1","color":"red"}"#
            let res = try await client.send(.post, "/v1/agents", json: body)
            #expect(res.status == .unprocessableContent)
            #expect(res.headers[.contentType] == "application/problem+json")
            let problem = try res.object()
            #expect(problem.string("type") == "/problems/validation-failed")
            #expect(problem.string("code") == "validation_failed")
            #expect(problem["status"] == .integer(422))
            #expect(problem.string("request_id") == res.headers[.xRequestID])
            #expect(try problemErrors(res) == [
                "/name too_short", "/tags/1 type", "/temperature too_large", "/model enum", "/owner_email format",
                "/id read_only", "/color unknown_field",
            ])
        }
    }

    @Test func missingRequiredFieldAndNonObjectBodies() async throws {
        try await withApp { client, _ in
            let missing = try await client.send(.post, "/v1/agents", json: "{}")
            #expect(try problemErrors(missing) == ["/name required"])
            let array = try await client.send(.post, "/v1/agents", json: "[1]")
            #expect(array.status == .unprocessableContent)
            #expect(try problemErrors(array) == [" type"])
        }
    }

    @Test func nulCharactersAreRejectedNotA500() async throws {
        try await withApp { client, _ in
            let inName = try await client.send(.post, "/v1/agents", json: #"{"name":"a\u0000b"}"#)
            #expect(inName.status == .unprocessableContent)
            #expect(try problemErrors(inName) == ["/name format"])
            // Postgres jsonb cannot hold \u0000 either: a 422, never a 500.
            let inJSON = try await client.send(.post, "/v1/agents", json: #"{"name":"a","config":{"k":"\u0000"}}"#)
            #expect(inJSON.status == .unprocessableContent)
        }
    }

    @Test func malformedJSONIs400() async throws {
        try await withApp { client, _ in
            let res = try await client.send(.post, "/v1/agents", json: #"{"name": "x",}"#)
            #expect(res.status == .badRequest)
            #expect(try res.object().string("code") == "malformed_json")
        }
    }

    @Test func wrongMediaTypeIs415() async throws {
        try await withApp { client, _ in
            let res = try await client.send(.post, "/v1/agents", json: #"{"name":"x"}"#, headers: [.contentType: "text/plain"])
            #expect(res.status == .unsupportedMediaType)
            #expect(try res.object().string("code") == "unsupported_media_type")
        }
    }

    @Test func bodyOverTheLimitIs413() async throws {
        try await withApp { client, _ in
            let big = #"{"name":"x","system_prompt":""# + String(repeating: "a", count: 1_100_000) + #""}"#
            let res = try await client.send(.post, "/v1/agents", json: big)
            #expect(res.status == .contentTooLarge)
            #expect(try res.object().string("code") == "payload_too_large")
        }
    }

    @Test func unsupportedMethodIs405WithAllow() async throws {
        try await withApp { client, _ in
            let res = try await client.send(.put, "/v1/agents")
            #expect(res.status == .methodNotAllowed)
            #expect(res.headers[.allow] == "GET, POST")
            let item = try await client.send(.post, "/v1/agents/\(UUID().uuidString)")
            #expect(item.status == .methodNotAllowed)
            #expect(item.headers[.allow] == "GET, PATCH, DELETE")
        }
    }

    @Test func unknownRoutesAndMalformedIdsAre404Problems() async throws {
        try await withApp { client, _ in
            let route = try await client.send(.get, "/v1/nothing-here")
            #expect(route.status == .notFound)
            #expect(route.headers[.contentType] == "application/problem+json")
            let id = try await client.send(.get, "/v1/agents/not-a-uuid")
            #expect(id.status == .notFound)
            #expect(try id.object().string("code") == "not_found")
        }
    }

    @Test func uniqueViolationIs409NamingTheField() async throws {
        try await withApp { client, _ in
            #expect(try await client.send(.post, "/v1/tools", json: #"{"name":"search"}"#).status == .created)
            let dup = try await client.send(.post, "/v1/tools", json: #"{"name":"search"}"#)
            #expect(dup.status == .conflict)
            let detail = try #require(try dup.object().string("detail"))
            #expect(detail.contains("name"))
            #expect(!detail.contains("tools_name_key"))
        }
    }

    @Test func requestIDIsEchoedWhenSaneAndReplacedOtherwise() async throws {
        try await withApp { client, _ in
            let echoed = try await client.send(.get, "/health/live", headers: [.xRequestID: "abc-123_X.y"])
            #expect(echoed.headers[.xRequestID] == "abc-123_X.y")
            let replaced = try await client.send(.get, "/health/live", headers: [.xRequestID: "bad id with spaces"])
            let generated = try #require(replaced.headers[.xRequestID])
            #expect(generated != "bad id with spaces")
            #expect(RequestIDMiddleware.isSane(generated))
            let onError = try await client.send(.get, "/v1/agents/x", headers: [.xRequestID: "trace-1"])
            #expect(onError.headers[.xRequestID] == "trace-1")
            #expect(try onError.object().string("request_id") == "trace-1")
        }
    }
}
