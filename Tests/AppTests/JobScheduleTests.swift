import App
import Foundation
import HTTPTypes
import PostgresNIO
import Testing
@testable import TrellisRuntime

@Suite("Cron schedules of jobs (issue 11)")
struct JobScheduleTests {
    /// The generated API with one schedule of its own (a unique name, every minute) enqueuing
    /// `messages.cleanup` on a queue no worker serves, so its jobs stay to run.
    static func api(overlap: ScheduleDefinition.Overlap) -> (APIDefinition, ScheduleDefinition) {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        var api = TrellisApp.api
        api.jobs.removeAll { $0.type == MessagesCleanupPayload.jobType }
        api.jobs.append(JobDefinition(
            MessagesCleanupPayload.self, queue: "s-" + suffix, priority: 0, maxAttempts: 3, backoff: JobBackoff(base: 1, cap: 1),
            timeoutSeconds: 60, uniqueForSeconds: nil))
        let schedule = ScheduleDefinition(
            name: "tests.every_minute_" + suffix, job: MessagesCleanupPayload.jobType, cron: "* * * * *", minutes: Array(0...59),
            hours: Array(0...23), daysOfMonth: Array(1...31), months: Array(1...12), daysOfWeek: Array(0...6), timeZone: "UTC",
            overlap: overlap)
        api.schedules = [schedule]
        return (api, schedule)
    }

    static func tenantWorkspaces(_ client: PostgresClient) async throws -> Int {
        try await client.query("SELECT count(*) FROM workspaces WHERE id <> '00000000-0000-0000-0000-000000000000'")
            .collect().first?.decode(Int.self) ?? -1
    }

    @Test func aTickFiresOnceHoweverManyWorkersSeeItAndQueuesTheJobInEveryTenantWorkspace() async throws {
        let (api, schedule) = Self.api(overlap: .queue)
        // At least one tenant workspace to fan out to, whatever else the database holds.
        _ = try await TestDatabase.shared.makeWorkspace()
        let scheduler = JobScheduler(schedules: api.schedules, queue: JobQueue(definitions: api.jobs))
        let tick = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60)
        try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            // Five workers' schedulers look at the same tick at once.
            let seen = await withTaskGroup(of: [String: Date].self) { group in
                for _ in 0..<5 {
                    group.addTask { await scheduler.fireDue(now: tick.addingTimeInterval(5), after: [:], on: client, logger: silentLogger) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(seen.allSatisfy { $0[schedule.name] == tick })
            let runs = try await scheduler.runs(of: schedule.name, limit: 10, on: client, logger: silentLogger)
            #expect(runs.count == 1 && runs.first?.outcome == "fired" && runs.first?.trigger == "cron")
            let counts = try await withInspector { inspector in
                try await inspector.query(
                    """
                    SELECT count(*), count(DISTINCT workspace_id), bool_and(created_by = \("schedule:" + schedule.name)),
                           bool_and(scopes = ARRAY['*']), bool_and(workspace_id <> '00000000-0000-0000-0000-000000000000')
                    FROM jobs WHERE schedule_run = \(runs.first?.id ?? -1)
                    """).collect().first!.decode((Int, Int, Bool, Bool, Bool).self)
            }
            #expect(counts.0 == runs.first?.jobs && counts.0 == counts.1 && counts.2 && counts.3 && counts.4)
            #expect(counts.0 >= 1)
            // The same tick again (a worker's next poll): nothing more.
            _ = await scheduler.fireDue(now: tick.addingTimeInterval(30), after: [:], on: client, logger: silentLogger)
            let after = try await scheduler.runs(of: schedule.name, limit: 10, on: client, logger: silentLogger)
            #expect(after.count == 1)
            // Firing the recorded tick directly is refused: it already ran.
            let again = try await scheduler.fire(schedule, tick: tick, trigger: .cron, on: client, logger: silentLogger)
            #expect(again == nil)
        }
    }

    @Test func aScheduleThatSkipsRecordsASkippedRunWhileItsLastJobsAreStillToRun() async throws {
        let (api, schedule) = Self.api(overlap: .skip)
        _ = try await TestDatabase.shared.makeWorkspace()
        let scheduler = JobScheduler(schedules: api.schedules, queue: JobQueue(definitions: api.jobs))
        try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let first = try #require(try await scheduler.fire(schedule, tick: Date(timeIntervalSince1970: 1_800_000_000), trigger: .cron, on: client, logger: silentLogger))
            #expect(first.outcome == "fired" && first.jobs >= 1)
            let second = try #require(try await scheduler.fire(schedule, tick: Date(timeIntervalSince1970: 1_800_000_060), trigger: .cron, on: client, logger: silentLogger))
            #expect(second.outcome == "skipped" && second.jobs == 0)
        }
    }

    @Test func aTickMissedByMoreThanTheCatchUpWindowIsNotFiredLate() async throws {
        let (api, every) = Self.api(overlap: .queue)
        let hourly = ScheduleDefinition(
            name: every.name + "_hourly", job: every.job, cron: "0 * * * *", minutes: [0], hours: Array(0...23),
            daysOfMonth: Array(1...31), months: Array(1...12), daysOfWeek: Array(0...6), timeZone: "UTC", overlap: .queue)
        try await TestDatabase.shared.prepare()
        let scheduler = JobScheduler(schedules: [hourly], queue: JobQueue(definitions: api.jobs))
        try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let late = RFC3339.parse("2026-12-01T10:30:00Z")!
            let seen = await scheduler.fireDue(now: late, after: [:], on: client, logger: silentLogger)
            #expect(seen[hourly.name] == nil)
            let runs = try await scheduler.runs(of: hourly.name, limit: 10, on: client, logger: silentLogger)
            #expect(runs.isEmpty)
            let inTime = RFC3339.parse("2026-12-01T10:09:00Z")!
            let fired = await scheduler.fireDue(now: inTime, after: [:], on: client, logger: silentLogger)
            #expect(fired[hourly.name] == RFC3339.parse("2026-12-01T10:00:00Z"))
        }
    }

    @Test func thePlatformAdminListsSchedulesAndRunsOneByHand() async throws {
        let (api, schedule) = Self.api(overlap: .queue)
        try await withApp(api: api) { tenant, workspace in
            let admin = try await makeKey(workspace: workspace, scopes: ["admin"]).token.text
            let run = try await tenant.send(.post, "/v1/admin/schedules/\(schedule.name)/run", as: .bearer(admin))
            #expect(run.status == .accepted, "\(run.text)")
            let recorded = try run.object()
            #expect(recorded.string("trigger") == "manual" && recorded.string("outcome") == "fired")
            let listing = try await tenant.send(.get, "/v1/admin/schedules", as: .bearer(admin)).object()
            let entry = try #require(listing.array("data").first?.object)
            #expect(entry.string("name") == schedule.name && entry.string("cron") == "* * * * *")
            #expect(entry.array("runs").first?.object?["id"] == recorded["id"])
            #expect(entry.string("next_run_at") != nil)
            let unknown = try await tenant.send(.post, "/v1/admin/schedules/no.such_schedule/run", as: .bearer(admin))
            #expect(unknown.status == .notFound)
            // A tenant key, even one holding every workspace scope, may not run schedules.
            let refused = try await tenant.send(.post, "/v1/admin/schedules/\(schedule.name)/run")
            #expect(refused.status == .forbidden)
        }
    }
}
