import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing
import TrellisRedis
import TrellisTestSupport
@testable import TrellisRuntime

/// `GET /v1/realtime` and GraphQL subscriptions over `graphql-transport-ws` (issue 10, item 5):
/// real servers, a real Redis, hummingbird-websocket's client. The stream itself (outbox, relay,
/// history) is the one ``RealtimeTests`` pins over SSE; these pin the WebSocket transports.
@Suite("WebSocket: /v1/realtime and GraphQL subscriptions")
struct WebSocketTests {
    static func connect(_ client: APIClient, _ path: String = "/v1/realtime", token: String? = nil) async throws -> WebSocketTestClient {
        try await WebSocketTestClient.connect(
            port: try #require(client.client.port), path: path, headers: [.authorization: "Bearer \(token ?? client.bearer)"])
    }

    static let upgradeHeaders = [
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
    ]

    @Test func aRealtimeSocketSeesAWriteMadeOnAnotherInstanceAndResumesWithExactlyWhatItMissed() async throws {
        try await ReadCacheTests.withConnectedRedis { first in
            try await ReadCacheTests.withConnectedRedis { second in
                try await withApp(realtime: RealtimeTests.realtime(first), live: true) { a, workspace in
                    try await withApp(workspace: workspace, realtime: RealtimeTests.realtime(second)) { b, _ in
                        let socket = try await Self.connect(a, "/v1/realtime?topics=agents")
                        let ready = try await socket.nextObject()
                        #expect(ready.string("type") == "ready")
                        #expect(ready["topics"] == .array([.string("agents")]))
                        // The swarm first: were it delivered, it would be the first message.
                        _ = try await b.send(.post, "/v1/swarms", json: #"{"name":"not a topic"}"#)
                        let id = try await b.send(.post, "/v1/agents", json: #"{"name":"over a socket"}"#).object().id()
                        // From the moment the write returned on the other instance; the write's own
                        // time, which a loaded 2-core machine stretches, is not the event's.
                        let written = ContinuousClock.now
                        let created = try await socket.nextObject(within: .seconds(5))
                        let latency = ContinuousClock.now - written
                        #expect(latency < .seconds(1), "the event took \(latency) after the write returned")
                        #expect(created.string("type") == "event")
                        #expect(created.string("event") == "agent.created")
                        #expect(created["data"]?.object?.string("resource_id") == id)
                        #expect(created["data"]?.object?.string("workspace_id") == workspace.uuidString.lowercased())
                        #expect(created["data"]?.object?["data"]?.object?.string("name") == "over a socket")
                        let seen = try #require(created.string("id"))
                        #expect(try await socket.messages(for: .milliseconds(300)).isEmpty, "a swarm event on an agents-only socket")
                        await socket.close()

                        for n in 1...3 { _ = try await b.send(.post, "/v1/agents", json: #"{"name":"missed \#(n)"}"#) }
                        let resumed = try await Self.connect(a, "/v1/realtime?topics=agents&last_event_id=\(seen)")
                        #expect(try await resumed.nextObject().string("last_event_id") == seen)
                        var names: [String] = []
                        while let text = try await resumed.next(within: .seconds(2)) {
                            guard case let .object(message) = try JSONValue(parsing: text) else { continue }
                            names.append(message["data"]?.object?["data"]?.object?.string("name") ?? "?")
                        }
                        #expect(names == ["missed 1", "missed 2", "missed 3"])
                        await resumed.close()
                    }
                }
            }
        }
    }

    @Test func anotherWorkspacesSocketNeverSeesTheseEvents() async throws {
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(realtime: RealtimeTests.realtime(redis), live: true) { a, _ in
                let workspaceB = try await TestDatabase.shared.makeWorkspace()
                let keyB = try await makeKey(workspace: workspaceB).token.text
                let socketB = try await Self.connect(a, token: keyB)
                let graphQLB = try await Self.subscribe(a, token: keyB, id: "b")
                _ = try await socketB.nextObject()
                _ = try await a.send(.post, "/v1/agents", json: #"{"name":"A's secret"}"#)
                #expect(try await socketB.messages(for: .milliseconds(1_500)).isEmpty)
                #expect(try await graphQLB.messages(for: .milliseconds(10)).isEmpty)
                _ = try await a.send(.post, "/v1/agents", json: #"{"name":"B's own"}"#, as: .bearer(keyB))
                #expect(try await socketB.nextObject()["data"]?.object?.string("workspace_id") == workspaceB.uuidString.lowercased())
                #expect(try await graphQLB.nextObject().string("type") == "next")
                await socketB.close()
                await graphQLB.close()
            }
        }
    }

    @Test func aRefusedUpgradeIsTheProblemTheRouteAnswersAndAPlainGetIs426() async throws {
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(realtime: RealtimeTests.realtime(redis), live: true) { client, workspace in
                let port = try #require(client.client.port)
                let noEvents = try await makeKey(workspace: workspace, scopes: ["agents:read"]).token.text
                let cases: [(headers: [String: String], path: String, status: Int, code: String)] = [
                    (Self.upgradeHeaders, "/v1/realtime", 401, "unauthenticated"),
                    (Self.upgradeHeaders.merging(["Authorization": "Bearer trk_not_a_key"]) { $1 }, "/v1/realtime", 401, "unauthenticated"),
                    (Self.upgradeHeaders.merging(["Authorization": "Bearer \(noEvents)"]) { $1 }, "/v1/realtime", 403, "insufficient_scope"),
                    (Self.upgradeHeaders.merging(["Authorization": "Bearer \(client.bearer)"]) { $1 }, "/v1/realtime?topics=nope", 400, "invalid_query"),
                    (["Authorization": "Bearer \(client.bearer)"], "/v1/realtime", 426, "upgrade_required"),
                    // No graphql-transport-ws subprotocol: in-band authentication is not on offer.
                    (Self.upgradeHeaders, "/v1/graphql", 401, "unauthenticated"),
                ]
                for (headers, path, status, code) in cases {
                    let response = try await EventStreamClient.open(port: port, path: path, headers: headers)
                    #expect(try await response.status() == status, "\(path) \(headers.keys.sorted())")
                    try await eventually("the answer to \(path) to arrive", within: .seconds(5)) { response.bodyText.contains("}") }
                    let body = try JSONValue(parsing: Array(response.bodyText.utf8)).object
                    #expect(body?.string("code") == code, "\(path): \(response.bodyText)")
                    if status == 426 { #expect(response.header("Upgrade") == "websocket") }
                    await response.close()
                }
                // A route that takes no WebSocket answers as it would without the upgrade, and a
                // streamed answer streams: the SSE of /v1/events comes at once, never held back.
                let sse = try await EventStreamClient.open(
                    port: port, path: "/v1/events", headers: Self.upgradeHeaders.merging(["Authorization": "Bearer \(client.bearer)"]) { $1 })
                #expect(try await sse.status() == 200)
                #expect(sse.header("Content-Type") == "text/event-stream")
                _ = try await client.send(.post, "/v1/agents", json: #"{"name":"streamed to a refused upgrade"}"#)
                #expect(try await sse.next(within: .seconds(5))?.event == "agent.created")
                await sse.close()
            }
        }
    }

    /// The invariant over every route: an upgrade is decided by the route, after the same
    /// authentication as any request. Without a credential (even offering the one protocol that
    /// authenticates in band) every `/v1` GET route but `/v1/graphql` is a 401; with one, only
    /// the two WebSocket routes ever switch protocols.
    @Test func noRouteTheRouterListsUpgradesWithoutACredentialAndOnlyTheSocketRoutesUpgradeAtAll() async throws {
        let routes = NIOLockedValueBox<[String]>([])
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(
                realtime: RealtimeTests.realtime(redis), live: true,
                configure: { router, _ in routes.withLockedValue { $0 = router.routes.map(\.description) } }
            ) { client, _ in
                let port = try #require(client.client.port)
                let gets = routes.withLockedValue { $0 }.compactMap { route -> String? in
                    let parts = route.split(separator: " ")
                    guard parts.count == 2, parts[0] == "GET", parts[1].hasPrefix("/v1/") else { return nil }
                    return String(parts[1]).replacingOccurrences(of: "{id}", with: UUID().uuidString.lowercased())
                        .replacingOccurrences(of: "{key_id}", with: UUID().uuidString.lowercased())
                }
                #expect(gets.count >= 15, "the router lists only \(gets.count) GET routes")
                var upgraded: [String] = []
                for path in gets {
                    let anonymous = try await EventStreamClient.open(
                        port: port, path: path, headers: Self.upgradeHeaders.merging(["Sec-WebSocket-Protocol": "graphql-transport-ws"]) { $1 })
                    let status = try await anonymous.status()
                    #expect(status == (path == "/v1/graphql" ? 101 : 401), "\(path) upgraded or answered \(status) without a credential")
                    await anonymous.close()
                    let authenticated = try await EventStreamClient.open(
                        port: port, path: path,
                        headers: Self.upgradeHeaders.merging(["Authorization": "Bearer \(client.bearer)", "Sec-WebSocket-Protocol": "graphql-transport-ws"]) { $1 })
                    if try await authenticated.status() == 101 { upgraded.append(path) }
                    await authenticated.close()
                }
                #expect(upgraded.sorted() == ["/v1/graphql", "/v1/realtime"])
            }
        }
    }

    @Test func aSocketClosesWith4401SoonAfterItsKeyIsRevoked() async throws {
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(realtime: RealtimeTests.realtime(redis, heartbeat: .milliseconds(300)), live: true) { client, workspace in
                let key = try await makeKey(workspace: workspace, scopes: ["agents:read", "events:read"])
                let socket = try await Self.connect(client, token: key.token.text)
                let graphQL = try await Self.subscribe(client, token: key.token.text, id: "revoked")
                #expect(try await client.send(.post, "/v1/api-keys/\(key.record.id.uuidString.lowercased())/revoke").status == .ok)
                try await eventually("the revoked key's socket to close", within: .seconds(5)) { socket.isClosed }
                #expect(socket.closeCode == 4401)
                try await eventually("the revoked key's subscription to close", within: .seconds(5)) { graphQL.isClosed }
                #expect(graphQL.closeCode == 4403)
            }
        }
    }

    // MARK: graphql-transport-ws

    /// Connects with the subprotocol and no header, initialises with `token` in the payload, and
    /// subscribes `id` to agents' events.
    static func subscribe(_ client: APIClient, token: String, id: String) async throws -> WebSocketTestClient {
        let socket = try await WebSocketTestClient.connect(
            port: try #require(client.client.port), path: "/v1/graphql", headers: [.secWebSocketProtocol: "graphql-transport-ws"])
        try await socket.send(#"{"type":"connection_init","payload":{"authorization":"Bearer \#(token)"}}"#)
        #expect(try await socket.nextObject().string("type") == "connection_ack")
        try await socket.send(
            #"{"id":"\#(id)","type":"subscribe","payload":{"query":"subscription { events(topics: [AGENTS]) { id type resourceId __typename } }"}}"#)
        // The subscription is live once its stream is registered; a ping's pong comes after.
        try await socket.send(#"{"type":"ping"}"#)
        #expect(try await socket.nextObject().string("type") == "pong")
        return socket
    }

    @Test func aGraphQLSubscriptionStreamsTheSelectedFieldsOfEachEvent() async throws {
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(realtime: RealtimeTests.realtime(redis), live: true) { client, _ in
                let socket = try await WebSocketTestClient.connect(
                    port: try #require(client.client.port), path: "/v1/graphql", headers: [.secWebSocketProtocol: "graphql-transport-ws"])
                try await socket.send(#"{"type":"connection_init","payload":{"authorization":"Bearer \#(client.bearer)"}}"#)
                #expect(try await socket.nextObject().string("type") == "connection_ack")
                try await socket.send(#"""
                    {"id":"s1","type":"subscribe","payload":{"query":"subscription Watch($topics: [EventTopic!]) { events(topics: $topics) { kind: type resourceId data __typename } }","variables":{"topics":["AGENTS"]}}}
                    """#)
                try await socket.send(#"{"type":"ping"}"#)
                #expect(try await socket.nextObject().string("type") == "pong")
                let id = try await client.send(.post, "/v1/agents", json: #"{"name":"subscribed"}"#).object().id()
                let next = try await socket.nextObject(within: .seconds(5))
                #expect(next.string("type") == "next")
                #expect(next.string("id") == "s1")
                let event = next["payload"]?.object?["data"]?.object?["events"]?.object
                #expect(event?.string("kind") == "agent.created")
                #expect(event?.string("resourceId") == id)
                #expect(event?.string("__typename") == "Event")
                #expect(event?["data"]?.object?.string("name") == "subscribed")
                #expect(event?.members.map(\.key) == ["kind", "resourceId", "data", "__typename"])

                // complete ends it: no more `next` for s1.
                try await socket.send(#"{"id":"s1","type":"complete"}"#)
                try await socket.send(#"{"type":"ping"}"#)
                #expect(try await socket.nextObject().string("type") == "pong")
                _ = try await client.send(.post, "/v1/agents", json: #"{"name":"after complete"}"#)
                #expect(try await socket.messages(for: .milliseconds(1_000)).isEmpty)

                // Errors name the problem and keep the connection.
                let noAgents = #"{"id":"s2","type":"subscribe","payload":{"query":"subscription { events(topics: [NOPE]) { id } }"}}"#
                try await socket.send(noAgents)
                let invalid = try await socket.nextObject()
                #expect(invalid.string("type") == "error")
                #expect(invalid.string("id") == "s2")
                try await socket.send(#"{"id":"s3","type":"subscribe","payload":{"query":"{ agents(first: 1) { totalCount } }"}}"#)
                #expect(try await socket.nextObject().string("type") == "error")
                await socket.close()
            }
        }
    }

    @Test func graphQLTransportWSRefusesWhatItsProtocolRefuses() async throws {
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(realtime: RealtimeTests.realtime(redis), live: true) { client, workspace in
                let port = try #require(client.client.port)
                func open() async throws -> WebSocketTestClient {
                    try await WebSocketTestClient.connect(port: port, path: "/v1/graphql", headers: [.secWebSocketProtocol: "graphql-transport-ws"])
                }
                // Subscribing before connection_ack: 4401.
                let early = try await open()
                try await early.send(#"{"id":"1","type":"subscribe","payload":{"query":"subscription { events { id } }"}}"#)
                try await eventually("the early subscriber to be closed", within: .seconds(5)) { early.isClosed }
                #expect(early.closeCode == 4401)
                // A refused credential in connection_init: 4403.
                let forged = try await open()
                try await forged.send(#"{"type":"connection_init","payload":{"authorization":"Bearer trk_forged"}}"#)
                try await eventually("the forged credential's connection to be closed", within: .seconds(5)) { forged.isClosed }
                #expect(forged.closeCode == 4403)
                // Not JSON: 4400.
                let garbled = try await open()
                try await garbled.send("{nope")
                try await eventually("the garbled connection to be closed", within: .seconds(5)) { garbled.isClosed }
                #expect(garbled.closeCode == 4400)
                // A second connection_init: 4429; a duplicate subscription id: 4409.
                let twice = try await open()
                try await twice.send(#"{"type":"connection_init","payload":{"authorization":"Bearer \#(client.bearer)"}}"#)
                _ = try await twice.nextObject()
                try await twice.send(#"{"type":"connection_init"}"#)
                try await eventually("the twice-initialised connection to be closed", within: .seconds(5)) { twice.isClosed }
                #expect(twice.closeCode == 4429)
                let duplicate = try await Self.subscribe(client, token: client.bearer, id: "same")
                try await duplicate.send(#"{"id":"same","type":"subscribe","payload":{"query":"subscription { events { id } }"}}"#)
                try await eventually("the duplicate subscriber to be closed", within: .seconds(5)) { duplicate.isClosed }
                #expect(duplicate.closeCode == 4409)
                // Subscribing is limited per connection: 30 per 10 s, then a `rate_limited` error.
                let eager = try await Self.subscribe(client, token: client.bearer, id: "first")
                for n in 1...30 {
                    try await eager.send(#"{"id":"e\#(n)","type":"subscribe","payload":{"query":"subscription { events(topics: [NOPE]) { id } }"}}"#)
                    let answer = try await eager.nextObject()
                    let code = (answer["payload"].flatMap { if case let .array(errors) = $0 { errors.first?.object } else { nil } })?["extensions"]?.object?.string("code")
                    #expect(code == (n < 30 ? "GRAPHQL_VALIDATION_FAILED" : "rate_limited"), "subscribe \(n): \(answer)")
                }
                await eager.close()
                // The topic's read scope, as on REST.
                let noAgents = try await makeKey(workspace: workspace, scopes: ["events:read", "swarms:read"]).token.text
                let scoped = try await open()
                try await scoped.send(#"{"type":"connection_init","payload":{"authorization":"Bearer \#(noAgents)"}}"#)
                _ = try await scoped.nextObject()
                try await scoped.send(#"{"id":"x","type":"subscribe","payload":{"query":"subscription { events(topics: [AGENTS]) { id } }"}}"#)
                let refused = try await scoped.nextObject()
                #expect(refused.string("type") == "error")
                guard case let .array(errors)? = refused["payload"] else { throw Unexpected(message: "no errors: \(refused)") }
                let error = errors.first?.object
                #expect(error?["extensions"]?.object?.string("code") == "insufficient_scope")
                #expect(error?.string("message")?.contains("'agents:read'") == true)
                await scoped.close()
            }
        }
    }
}
