import App
import Foundation
import HTTPTypes
import Testing
import TrellisTestSupport
@testable import TrellisRuntime

/// `job`, `jobs`, `enqueueJob`, `cancelJob`, `retryJob` and the `JOBS` event topic: the jobs of
/// issue 11 on GraphQL, over the same calls as `/v1/jobs`, on real Postgres and Redis. Each
/// test's jobs are `tests.work` on a queue of its own, so no other test's worker takes them.
@Suite("GraphQL jobs on real Postgres")
struct GraphQLJobTests {
    private func data(_ answer: JSONObject, _ field: String) -> JSONObject? {
        answer["data"]?.object?[field]?.object
    }

    private static func queue() -> String { "t-" + UUID().uuidString.prefix(8).lowercased() }

    /// A `run_at` far enough ahead that no worker starts the job during the test.
    private static let later = RFC3339.format(Date().addingTimeInterval(300 * 86_400))

    @Test func aJobIsEnqueuedReadListedCancelledAndRetriedAsOnREST() async throws {
        try await withApp(api: JobQueueTests.api(queue: Self.queue())) { client, _ in
            let enqueued = try await graphQL(client, """
                mutation { enqueueJob(input: {type: "tests.work", payload: {n: 7}, priority: 5, runAt: \"\(Self.later)\"}) {
                  __typename id type state priority payload maxAttempts attempts progress result errors { attempt } createdBy runAt } }
                """)
            #expect(enqueued["errors"] == nil, "\(enqueued)")
            let job = try #require(data(enqueued, "enqueueJob"))
            let id = try job.id()
            let rest = try await client.send(.get, "/v1/jobs/\(id)").object()
            #expect(job.string("__typename") == "Job")
            #expect(job.string("type") == "tests.work" && rest.string("type") == "tests.work")
            #expect(job["state"] == rest["state"] && job.string("state") == "scheduled")
            #expect(job["priority"] == .integer(5) && rest["priority"] == .integer(5))
            #expect(job["payload"] == rest["payload"] && job["payload"]?.object?["n"] == .integer(7))
            #expect(job["maxAttempts"] == rest["max_attempts"] && job["attempts"] == rest["attempts"])
            #expect(job["createdBy"] == rest["created_by"] && job["runAt"] == rest["run_at"])
            #expect(job["errors"] == .array([]) && job["result"] == .null)

            let one = try await graphQL(client, #"query($id: ID!) { job(id: $id) { id state queue } }"#, variables: #"{"id":"\#(id)"}"#)
            #expect(data(one, "job")?.string("id") == id)
            #expect(data(one, "job")?["queue"] == rest["queue"])

            let second = try await graphQL(client, #"mutation { enqueueJob(input: {type: "tests.work", payload: {n: 8}, runAt: "\#(Self.later)"}) { id } }"#)
            let secondID = try #require(data(second, "enqueueJob")).id()
            // Newest first, a page at a time, each edge with its own cursor, as REST pages.
            let firstPage = try await graphQL(client, """
                { jobs(first: 1, state: scheduled, type: "tests.work") { __typename edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }
                """)
            let page = try #require(data(firstPage, "jobs"), "\(firstPage)")
            #expect(page.string("__typename") == "JobConnection")
            let edges = page.array("edges").compactMap(\.object)
            #expect(edges.compactMap { $0["node"]?.object?.string("id") } == [secondID])
            #expect(page["pageInfo"]?.object?["hasNextPage"] == .bool(true))
            let cursor = try #require(page["pageInfo"]?.object?.string("endCursor"))
            #expect(edges.first?.string("cursor") == cursor)
            // endCursor alone, without the edges' cursors, is the same cursor.
            let endOnly = try await graphQL(client, #"{ jobs(first: 1, type: "tests.work") { pageInfo { endCursor } } }"#)
            #expect(data(endOnly, "jobs")?["pageInfo"]?.object?.string("endCursor") == cursor, "\(endOnly)")
            let restPage = try await client.send(.get, "/v1/jobs?limit=1&state=scheduled&type=tests.work").object()
            #expect(restPage.string("next_cursor") == cursor)
            let nextPage = try await graphQL(
                client, #"query($after: String) { jobs(first: 1, after: $after, type: "tests.work") { edges { node { id } } pageInfo { hasNextPage } } }"#,
                variables: #"{"after":"\#(cursor)"}"#)
            #expect(data(nextPage, "jobs")?.array("edges").compactMap { $0.object?["node"]?.object?.string("id") } == [id])
            #expect(data(nextPage, "jobs")?["pageInfo"]?.object?["hasNextPage"] == .bool(false))

            let cancelled = try await graphQL(client, #"mutation($id: ID!) { cancelJob(id: $id) { state finishedAt } }"#, variables: #"{"id":"\#(id)"}"#)
            #expect(data(cancelled, "cancelJob")?.string("state") == "cancelled", "\(cancelled)")
            #expect(try await client.send(.get, "/v1/jobs/\(id)").object().string("state") == "cancelled")
            let again = try await graphQL(client, #"mutation($id: ID!) { cancelJob(id: $id) { state } }"#, variables: #"{"id":"\#(id)"}"#)
            #expect(errorCodes(again) == ["job_state_conflict"])
            #expect(again["data"] == .null)
            let retried = try await graphQL(client, #"mutation($id: ID!) { retryJob(id: $id) { state } }"#, variables: #"{"id":"\#(id)"}"#)
            #expect(data(retried, "retryJob")?.string("state") == "available", "\(retried)")
        }
    }

    @Test func badEnqueueInputAndListArgumentsAreTheRESTProblemsAtPathsIntoTheArguments() async throws {
        try await withApp(api: JobQueueTests.api(queue: Self.queue())) { client, workspace in
            let answer = try await graphQL(
                client, #"mutation($in: JobEnqueueInput!) { enqueueJob(input: $in) { id } }"#,
                variables: #"{"in":{"type":"tests.work","payload":{},"priority":5000,"runAt":"soon"}}"#)
            #expect(answer["data"] == .null)
            let error = try #require(answer.array("errors").first?.object)
            #expect(error["path"] == .array([.string("enqueueJob")]))
            #expect(error["extensions"]?.object?.string("code") == "validation_failed")
            let paths = Set(error["extensions"]?.object?.array("errors").compactMap { $0.object.map { "\($0.string("path") ?? "") \($0.string("code") ?? "")" } } ?? [])
            #expect(paths == ["/payload/n required", "/priority format", "/runAt format"])
            let unknown = try await graphQL(client, #"mutation { enqueueJob(input: {type: "nope.nothing"}) { id } }"#)
            #expect(errorCodes(unknown) == ["validation_failed"])

            let list = try await graphQL(client, #"{ jobs(first: 0, after: "forged") { edges { node { id } } } }"#)
            let listError = try #require(list.array("errors").first?.object)
            #expect(listError["extensions"]?.object?.string("code") == "invalid_query")
            let listPaths = Set(listError["extensions"]?.object?.array("errors").compactMap { $0.object?.string("path") } ?? [])
            #expect(listPaths == ["/first", "/after"])
            // Nothing was enqueued by any of them (schedules fired by other tests may add their own jobs).
            let stored = try await withInspector { db in
                try await db.query("SELECT count(*) FROM jobs WHERE workspace_id = \(workspace) AND type IN ('tests.work', 'nope.nothing')", logger: .init(label: "test")).decode(Int.self).all().first
            }
            #expect(stored == 0)
        }
    }

    @Test func anotherWorkspacesJobIsNotFoundAndEachFieldNeedsItsRESTScope() async throws {
        let queue = Self.queue()
        let theirs = try await withApp(api: JobQueueTests.api(queue: queue)) { client, _ in
            try await JobQueueTests.enqueue(client, #"{"type":"tests.work","payload":{"n":1},"run_at":"\#(Self.later)"}"#).id()
        }
        try await withApp(api: JobQueueTests.api(queue: queue)) { client, _ in
            for query in [
                #"query($id: ID!) { job(id: $id) { id } }"#, #"mutation($id: ID!) { cancelJob(id: $id) { id } }"#,
                #"mutation($id: ID!) { retryJob(id: $id) { id } }"#,
            ] {
                let answer = try await graphQL(client, query, variables: #"{"id":"\#(theirs)"}"#)
                #expect(errorCodes(answer) == ["not_found"], "\(query): \(answer)")
            }
            // Of its own type, this workspace has none (a schedule fired by another suite may add
            // jobs of other types to every workspace meanwhile); and the other workspace's is never listed.
            let list = try await graphQL(client, #"{ jobs(type: "tests.work") { edges { node { id } } } }"#)
            #expect(data(list, "jobs")?.array("edges") == [], "\(list)")
            let all = try await graphQL(client, #"{ jobs(first: 100) { edges { node { id } } } }"#)
            #expect(!(data(all, "jobs")?.array("edges") ?? []).contains { $0.object?["node"]?.object?.string("id") == theirs }, "\(all)")
        }
        try await withApp(scopes: ["jobs:read"], api: JobQueueTests.api(queue: queue)) { client, _ in
            let answer = try await graphQL(client, #"mutation { enqueueJob(input: {type: "tests.work", payload: {n: 1}}) { id } }"#)
            #expect(errorCodes(answer) == ["insufficient_scope"])
            #expect(answer.array("errors").first?.object?.string("message")?.contains("'jobs:write'") == true)
        }
        try await withApp(scopes: ["jobs:write"], api: JobQueueTests.api(queue: queue)) { client, _ in
            let answer = try await graphQL(client, #"{ jobs { edges { node { id } } } }"#)
            #expect(errorCodes(answer) == ["insufficient_scope"])
        }
    }

    @Test func aSubscriptionToJOBSStreamsEachProgressReport() async throws {
        let queue = Self.queue()
        let handler = ClosureHandler { _, context in
            try await context.progress(0.5, message: "half")
            return nil
        }
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(
                api: JobQueueTests.api(queue: queue), realtime: RealtimeTests.realtime(redis), live: true,
                alongside: { [JobQueueTests.worker($0, queue: queue, handler: handler)] }
            ) { client, _ in
                let socket = try await WebSocketTestClient.connect(
                    port: try #require(client.client.port), path: "/v1/graphql", headers: [.secWebSocketProtocol: "graphql-transport-ws"])
                try await socket.send(#"{"type":"connection_init","payload":{"authorization":"Bearer \#(client.bearer)"}}"#)
                #expect(try await socket.nextObject().string("type") == "connection_ack")
                try await socket.send(
                    #"{"id":"j","type":"subscribe","payload":{"query":"subscription { events(topics: [JOBS]) { type resource resourceId data } }"}}"#)
                try await socket.send(#"{"type":"ping"}"#)
                #expect(try await socket.nextObject().string("type") == "pong")
                let job = try await JobQueueTests.enqueue(client, #"{"type":"tests.work","payload":{"n":2}}"#)
                let next = try await socket.nextObject(within: .seconds(10))
                let event = next["payload"]?.object?["data"]?.object?["events"]?.object
                #expect(event?.string("type") == "job.progress", "\(next)")
                #expect(event?.string("resource") == "jobs")
                #expect(event?.string("resourceId") == (try job.id()))
                #expect(event?["data"]?.object?.string("message") == "half")
                await socket.close()
            }
        }
    }
}
