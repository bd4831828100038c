import Foundation
import Hummingbird

/// `/v1/admin/schedules` (platform admin): the cron schedules of `jobs.yaml` with their next
/// tick and recent runs, and a manual run. Schedules serve every tenant workspace, so only the
/// platform admin sees or runs them.
struct ScheduleRoutes: Sendable {
    let services: TrellisServices
    /// Runs listed per schedule.
    static let history = 10

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.get("admin/schedules", use: list)
        v1.post("admin/schedules/:name/run", use: run)
    }

    @Sendable func list(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        _ = try context.authorized(for: ScopeSet.platformAdmin)
        let unknown = queryParameters(of: request).map {
            FieldProblem(path: "/query/" + jsonPointerToken($0.0), code: .unknownField, message: "is not a parameter of this operation")
        }
        if !unknown.isEmpty { throw Problem.invalidQuery(unknown) }
        var items: [ScheduleView] = []
        for schedule in services.scheduler.schedules {
            let runs = try await services.scheduler.runs(of: schedule.name, limit: Self.history, on: services.postgres, logger: context.logger)
            items.append(ScheduleView(schedule: schedule, next: schedule.nextTick(after: Date()), runs: runs))
        }
        return Page(items: items, nextCursor: nil).response(.ok)
    }

    /// 202 with the run it recorded (its jobs are queued); a schedule that skips while its last
    /// run's jobs are still to run answers 202 with outcome `skipped` and no jobs.
    @Sendable func run(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        _ = try context.authorized(for: ScopeSet.platformAdmin)
        let name = context.parameters.get("name") ?? ""
        guard let schedule = services.scheduler.schedule(named: name) else {
            throw Problem.notFound("No schedule named \(name.prefix(100))")
        }
        guard let run = try await services.scheduler.fire(schedule, tick: Date(), trigger: .manual, on: services.postgres, logger: context.logger) else {
            throw Problem.serviceUnavailable("Another run of this schedule was recorded at the same instant; try again")
        }
        return run.response(.accepted)
    }
}

/// One schedule as `GET /v1/admin/schedules` shows it.
struct ScheduleView: Sendable, JSONWritable {
    var schedule: ScheduleDefinition
    var next: Date?
    var runs: [JobScheduler.Run]

    func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("name"); w.value(schedule.name)
        w.key("object"); w.value("schedule")
        w.key("job"); w.value(schedule.job)
        w.key("cron"); w.value(schedule.cron)
        w.key("time_zone"); w.value(schedule.timeZoneName)
        w.key("overlap"); w.value(schedule.overlap.rawValue)
        w.key("next_run_at"); if let next { w.value(next) } else { w.null() }
        w.key("runs"); w.beginArray(); for run in runs { run.writeJSON(to: &w) }; w.endArray()
        w.endObject()
    }
}
