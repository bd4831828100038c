import App
import Foundation
import Hummingbird
import HTTPTypes
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle
import Testing
import TrellisJobs
import TrellisTestSupport
@testable import TrellisRuntime

/// Error tracking (issue 12, item 2): every 5xx and every failed job attempt is recorded once
/// per fingerprint, with its count, first and last seen and a sample request id; a resolved
/// error re-opens when it happens again; platform admins read and resolve them through
/// `/v1/admin/errors` and the owner through `trellis errors`; a Sentry-compatible receiver gets
/// envelopes that carry nothing a client sent.
@Suite("error tracking (issue 12)", .serialized)
struct ErrorTrackingTests {
    struct ExplodingHandlerError: Error {}
    struct FailingJobError: Error {}

    /// A route of this test's own (a unique template, so its fingerprints are this test's alone)
    /// on the real router: `boom` throws a Swift error (500), `missing` runs a query on a table
    /// that does not exist (a PSQLError, 500), `busy` throws a 503 problem, `fine` answers 200.
    static func routes(_ prefix: String) -> @Sendable (Router<TrellisRequestContext>, TrellisServices) -> Void {
        { router, services in
            router.get("\(prefix)/boom/:n") { _, _ -> Response in throw ExplodingHandlerError() }
            router.get("\(prefix)/missing") { _, context -> Response in
                _ = try await services.postgres.query("SELECT * FROM no_such_table_for_error_tracking", logger: context.logger).collect()
                return Response(status: .ok)
            }
            router.get("\(prefix)/busy") { _, _ -> Response in throw Problem.serviceUnavailable("Try later") }
            router.get("\(prefix)/fine") { _, _ in Response(status: .ok) }
        }
    }

    static func flusher(_ sentry: SentryForwarder? = nil) -> @Sendable (TrellisServices) -> [any Service] {
        { services in
            var service = ErrorTrackerService(
                tracker: services.errors, postgres: services.postgres, sentry: sentry, metrics: services.metrics.operations, logger: silentLogger)
            service.interval = .milliseconds(100)
            return [service]
        }
    }

    /// The error with `fingerprint` as a platform admin sees it, once it shows `condition`.
    static func tracked(
        _ api: APIClient, admin: String, _ fingerprint: String, until condition: @escaping (JSONObject) -> Bool = { _ in true }
    ) async throws -> JSONObject {
        var last: JSONObject?
        let seen = try await eventually(timeout: .seconds(10), interval: .milliseconds(100)) {
            let response = try await api.send(.get, "/v1/admin/errors/\(fingerprint)", as: .bearer(admin))
            guard response.status == .ok else { return false }
            last = try response.object()
            return condition(last!)
        }
        #expect(seen, "\(String(describing: last))")
        return try #require(last)
    }

    @Test func everyFiveHundredIsGroupedByFingerprintAndAResolvedOneReopensWhenItHappensAgain() async throws {
        let prefix = "errors-" + UUID().uuidString.prefix(8).lowercased()
        let admin = try await makeKey(workspace: UUID(), scopes: [ScopeSet.platformAdmin]).token.text
        try await withApp(configure: Self.routes(prefix), alongside: Self.flusher()) { api, _ in
            var requestIDs: [String] = []
            for n in 1...3 {
                let response = try await api.send(.get, "/\(prefix)/boom/\(n)")
                #expect(response.status == .internalServerError)
                requestIDs.append(try #require(response.headers[HTTPField.Name("X-Request-ID")!]))
            }
            let boom = ErrorOccurrence(
                kind: .request, signature: ErrorSignature(type: String(reflecting: ExplodingHandlerError.self)),
                location: "/\(prefix)/boom/{n}", requestID: nil).fingerprint
            let error = try await Self.tracked(api, admin: admin, boom) { $0["occurrences"] == .integer(3) }
            #expect(error.string("kind") == "request" && error.string("location") == "/\(prefix)/boom/{n}")
            #expect(error.string("error_type") == "AppTests.ErrorTrackingTests.ExplodingHandlerError")
            #expect(error.string("sample_request_id") == requestIDs.last)
            #expect(error["resolved"] == .bool(false))

            // A PSQLError is grouped by its SQLSTATE and the file and line of its query; a 503 problem by its code.
            _ = try await api.send(.get, "/\(prefix)/missing")
            _ = try await api.send(.get, "/\(prefix)/busy")
            var listed = JSONObject()
            var mine: [JSONObject] = []
            let flushed = try await eventually(timeout: .seconds(10), interval: .milliseconds(100)) {
                listed = try await api.send(.get, "/v1/admin/errors?status=open&limit=100", as: .bearer(admin)).object()
                mine = listed.array("data").compactMap(\.object).filter { $0.string("location")?.hasPrefix("/\(prefix)/") == true }
                return mine.count >= 3
            }
            #expect(flushed, "\(listed)")
            let missing = try #require(mine.first { $0.string("location") == "/\(prefix)/missing" }, "\(listed)")
            #expect(missing.string("error_type") == "PSQLError" && missing.string("detail") == "SQLSTATE 42P01")
            #expect(missing.string("frame")?.hasPrefix("AppTests/ErrorTrackingTests.swift:") == true, "\(missing)")
            let busy = try #require(mine.first { $0.string("location") == "/\(prefix)/busy" })
            #expect(busy.string("error_type") == "Problem" && busy.string("detail") == "service_unavailable")
            // Nothing below 500 is an error event: a 404, a 422, a 200.
            _ = try await api.send(.get, "/\(prefix)/nothing-here")
            _ = try await api.send(.post, "/v1/agents", json: #"{"name":""}"#)
            _ = try await api.send(.get, "/\(prefix)/fine")
            try await Task.sleep(for: .milliseconds(300))
            let afterFine = try await api.send(.get, "/v1/admin/errors?status=all&limit=100", as: .bearer(admin)).object()
            #expect(afterFine.array("data").compactMap(\.object).filter { $0.string("location")?.hasPrefix("/\(prefix)/") == true }.count == 3)

            // Resolved; the next occurrence re-opens it and counts it.
            let resolved = try await api.send(.post, "/v1/admin/errors/\(boom)/resolve", as: .bearer(admin))
            #expect(resolved.status == .ok)
            #expect(try resolved.object()["resolved"] == .bool(true))
            let openNow = try await api.send(.get, "/v1/admin/errors?limit=100", as: .bearer(admin)).object().array("data")
            #expect(!openNow.contains { $0.object?.string("fingerprint") == boom }, "resolved errors leave the open list")
            _ = try await api.send(.get, "/\(prefix)/boom/4")
            let reopened = try await Self.tracked(api, admin: admin, boom) { $0["occurrences"] == .integer(4) }
            #expect(reopened["resolved"] == .bool(false) && reopened["reopened"] == .integer(1))

            // Only platform admins: a tenant key holding every workspace scope is refused.
            let tenant = try await api.send(.get, "/v1/admin/errors")
            #expect(tenant.status == .forbidden)
            #expect(try await api.send(.get, "/v1/admin/errors/\(boom)").status == .forbidden)
            // Bad input is a 400 naming the parameter, an unknown fingerprint a 404.
            let bad = try await api.send(.get, "/v1/admin/errors?status=closed&limit=0&x=1", as: .bearer(admin))
            #expect(bad.status == .badRequest)
            #expect(Set(try problemErrors(bad)) == ["/query/status enum", "/query/limit too_small", "/query/x unknown_field"])
            #expect(try await api.send(.get, "/v1/admin/errors/\(String(repeating: "0", count: 64))", as: .bearer(admin)).status == .notFound)
            #expect(try await api.send(.get, "/v1/admin/errors/not-hex", as: .bearer(admin)).status == .notFound)

            // The owner's `trellis errors` sees and resolves the same rows.
            let shown = try Self.trellis(["errors", "show", String(boom.prefix(12))])
            #expect(shown.contains("location      /\(prefix)/boom/{n}") && shown.contains("occurrences   4"), "\(shown)")
            let done = try Self.trellis(["errors", "resolve", String(boom.prefix(12))])
            #expect(done.contains("resolved \(boom)"), "\(done)")
            let afterCLI = try await Self.tracked(api, admin: admin, boom)
            #expect(afterCLI["resolved"] == .bool(true))
        }
    }

    @Test func aFailedJobAttemptIsTrackedUnderItsJobType() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let admin = try await makeKey(workspace: UUID(), scopes: [ScopeSet.platformAdmin]).token.text
        let handler = ClosureHandler { _, _ in throw FailingJobError() }
        try await withApp(
            api: JobQueueTests.api(queue: queue, maxAttempts: 2),
            alongside: { Self.flusher()($0) + [JobQueueTests.worker($0, queue: queue, handler: handler)] }
        ) { api, _ in
            let fingerprint = ErrorOccurrence(
                kind: .job, signature: ErrorSignature(type: String(reflecting: FailingJobError.self)), location: "tests.work",
                requestID: nil).fingerprint
            // The same fingerprint in an earlier run against this database counts on.
            let earlier = try await api.send(.get, "/v1/admin/errors/\(fingerprint)", as: .bearer(admin))
            var before: Int64 = 0
            if earlier.status == .ok, case let .integer(count)? = try earlier.object()["occurrences"] { before = count }
            let job = try await JobQueueTests.enqueue(api, #"{"type":"tests.work","payload":{"n":1}}"#)
            _ = try await JobQueueTests.waitFor(api, try job.id()) { $0.string("state") == "dead" }
            let tracked = try await Self.tracked(api, admin: admin, fingerprint) { $0["occurrences"] == .integer(before + 2) }
            #expect(tracked.string("kind") == "job" && tracked.string("location") == "tests.work")
            #expect(tracked.string("sample_request_id") == "job_\(try job.id())")
        }
    }

    /// A Sentry-compatible receiver: records each envelope and its auth header.
    final class Receiver: Sendable {
        let port: Int
        let envelopes = NIOLockedValueBox<[(auth: String, body: String)]>([])
        private let task = NIOLockedValueBox<Task<Void, any Error>?>(nil)

        init(port: Int) { self.port = port }

        func start() async throws {
            let router = Router()
            router.post("api/:project/envelope") { [envelopes] request, context -> Response in
                guard context.parameters.get("project") == "42" else { return Response(status: .notFound) }
                let body = try await request.body.collect(upTo: 1 << 20)
                envelopes.withLockedValue { $0.append((request.headers[HTTPField.Name("X-Sentry-Auth")!] ?? "", String(buffer: body))) }
                return Response(status: .ok)
            }
            let server = try await startLocalHTTPServer(router, port: port)
            task.withLockedValue { $0 = server }
        }

        func stop() { task.withLockedValue { $0?.cancel() } }
    }

    @Test func errorsAreForwardedAsSentryEnvelopesWithoutAnythingTheClientSent() async throws {
        let receiver = Receiver(port: try freeLocalPort())
        try await receiver.start()
        defer { receiver.stop() }
        let dsn = try #require(SentryForwarder.DSN("http://publickey123@127.0.0.1:\(receiver.port)/42"))
        #expect(dsn.envelopeURL == "http://127.0.0.1:\(receiver.port)/api/42/envelope/")
        #expect(SentryForwarder.DSN("not a url") == nil && SentryForwarder.DSN("https://sentry.example.com/42") == nil)
        let prefix = "errors-" + UUID().uuidString.prefix(8).lowercased()
        let forwarder = SentryForwarder(dsn: dsn, logger: silentLogger)
        try await withApp(configure: Self.routes(prefix), alongside: Self.flusher(forwarder)) { api, _ in
            // A client's secrets in the path, query, headers and body: none may leave.
            let response = try await api.send(
                .get, "/\(prefix)/boom/ada@example.com?token=hunter2secret", json: #"{"password":"hunter2secret"}"#,
                headers: [HTTPField.Name("X-Api-Secret")!: "hunter2secret"])
            #expect(response.status == .internalServerError)
            let arrived = try await eventually(timeout: .seconds(10), interval: .milliseconds(100)) {
                !receiver.envelopes.withLockedValue { $0 }.isEmpty
            }
            #expect(arrived)
            let (auth, body) = try #require(receiver.envelopes.withLockedValue { $0 }.first)
            #expect(auth.contains("sentry_key=publickey123") && auth.contains("sentry_version=7"))
            let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 4 && lines[3].isEmpty, "header, item header, event, and a newline")
            let header = try #require(try JSONValue(parsing: Array(lines[0].utf8)).object)
            let item = try #require(try JSONValue(parsing: Array(lines[1].utf8)).object)
            let event = try #require(try JSONValue(parsing: Array(lines[2].utf8)).object)
            #expect(item.string("type") == "event" && item["length"] == .integer(Int64(lines[2].utf8.count)))
            #expect(header.string("event_id") == event.string("event_id"))
            #expect(event.string("transaction") == "/\(prefix)/boom/{n}")
            let exception = event["exception"]?.object?["values"].flatMap { value -> JSONObject? in
                if case let .array(items) = value { return items.first?.object }
                return nil
            }
            #expect(exception?.string("type") == "AppTests.ErrorTrackingTests.ExplodingHandlerError")
            for secret in ["ada@example.com", "hunter2secret", "127.0.0.1", "password"] {
                #expect(!body.contains(secret), "\(secret) left the process: \(body)")
            }
        }
    }

    /// Runs the `trellis` binary beside the tests with the owner role's URL; its output.
    static func trellis(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = WorkerProcessTests.binary
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_OWNER_URL"] = try TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw Unexpected(message: "trellis \(arguments.joined(separator: " ")): \(text)") }
        return text
    }
}
