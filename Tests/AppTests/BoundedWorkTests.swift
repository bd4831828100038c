import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import Testing
@testable import TrellisRuntime

@Suite("Bounded work per request: error bodies, arrays, scopes before bodies, failed logins")
struct BoundedWorkTests {
    @Test func aBodyWithNinetyThousandUnknownKeysGetsASmallTruncated422() async throws {
        try await withApp { client, _ in
            var body = #"{"name":"x""#
            for i in 0..<90_000 { body += #","k\#(i)":1"# }
            body += "}"
            #expect(body.utf8.count > 900_000)
            let res = try await client.send(.post, "/v1/agents", json: body)
            #expect(res.status == .unprocessableContent)
            let problem = try res.object()
            #expect(problem.array("errors").count == Problem.maxReportedErrors)
            #expect(problem["truncated"] == .bool(true))
            #expect(problem["total_errors"] == .integer(90_000))
            #expect(res.body.readableBytes < 20_000, "a \(res.body.readableBytes)-byte error body")
        }
    }

    @Test func aHugeQueryStringGetsASmall400() async throws {
        try await withApp { client, _ in
            let query = (0..<4_000).map { "p\($0)=1" }.joined(separator: "&")
            #expect(query.utf8.count > 30_000)
            let res = try await client.send(.get, "/v1/agents?" + query)
            #expect(res.status == .badRequest)
            #expect(try res.object()["truncated"] == .bool(true))
            #expect(res.body.readableBytes < 20_000, "a \(res.body.readableBytes)-byte error body")
        }
    }

    @Test func anUnknownKeyAsLongAsTheBodyIsNotEchoedWhole() async throws {
        try await withApp { client, _ in
            let key = String(repeating: "k", count: 500_000)
            let res = try await client.send(.post, "/v1/agents", json: #"{"name":"x","\#(key)":1}"#)
            #expect(res.status == .unprocessableContent)
            #expect(res.body.readableBytes < 2_000)
        }
    }

    @Test func itemsPastMaxItemsAreNotCheckedOneByOne() async throws {
        try await withApp { client, _ in
            // tags: max_items 20, each at most 40 characters: 10 000 bad items, one problem.
            let tags = Array(repeating: "\"" + String(repeating: "t", count: 41) + "\"", count: 10_000).joined(separator: ",")
            let res = try await client.send(.post, "/v1/agents", json: #"{"name":"x","tags":[\#(tags)]}"#)
            #expect(res.status == .unprocessableContent)
            let errors = try problemErrors(res)
            #expect(errors.contains("/tags too_many_items"))
            #expect(errors.count <= 21, "\(errors.count) problems")
        }
    }

    @Test func theScopeIsCheckedBeforeTheBodyIsReadOrValidated() async throws {
        try await withApp(scopes: ["agents:read"]) { client, _ in
            let id = UUID().uuidString.lowercased()
            for (method, path) in [(HTTPRequest.Method.post, "/v1/agents"), (.patch, "/v1/agents/\(id)")] {
                let res = try await client.send(method, path, json: "{not json")
                #expect(res.status == .forbidden, "\(method) \(path) gave \(res.status)")
            }
        }
    }

    @Test func aFloodOfBadKeysWritesOneAuditRowPerSourcePerWindowWithACount() async throws {
        let captured = NIOLockedValueBox<TrellisServices?>(nil)
        try await withApp(configure: { _, services in captured.withLockedValue { $0 = services } }) { client, workspace in
            let services = try #require(captured.withLockedValue { $0 })
            let token = try #require(APIKeyToken(parsing: Substring(client.bearer)))
            let wrongSecret = "trk_" + String(client.bearer.dropFirst(4).prefix(32)) + "_" + String(repeating: "A", count: 43)
            for _ in 0..<50 {
                #expect(try await client.send(.get, "/v1/agents", as: .bearer(wrongSecret)).status == .unauthorized)
            }
            var rows = try await auditActions(workspace, action: "auth.failed")
            #expect(rows.count == 1)
            #expect(rows.first?.credential == "api_key:\(token.id.uuidString.lowercased())")
            // After the window the other 49 attempts are written as one counted row.
            await services.authenticator.flushSuppressedFailures(
                logger: Logger(label: "test"), now: .now + FailedAuthenticationLog.window + .seconds(1))
            rows = try await auditActions(workspace, action: "auth.failed")
            #expect(rows.count == 2)
            #expect(rows.last?.after?.object?["attempts"] == .integer(49))
        }
    }

    @Test func unknownKeyIdsAreRememberedUntilAKeyChanges() {
        let cache = APIKeyCache()
        let id = UUID()
        #expect(!cache.isKnownUnknown(id))
        cache.rememberUnknown(id, lookedUpAt: cache.generation)
        #expect(cache.isKnownUnknown(id))
        #expect(!cache.isKnownUnknown(id, now: .now + APIKeyCache.unknownLifetime + .seconds(1)))
        cache.evict(id)
        #expect(!cache.isKnownUnknown(id))
        // A lookup that began before a change may not record a miss.
        let generation = cache.generation
        cache.evict(UUID())
        cache.rememberUnknown(id, lookedUpAt: generation)
        #expect(!cache.isKnownUnknown(id))
    }
}
