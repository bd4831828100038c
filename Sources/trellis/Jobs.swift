import App
import ArgumentParser
import Foundation
import TrellisRuntime

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The job queue's schedules (uses DATABASE_OWNER_URL).", subcommands: [RunSchedule.self, Schedules.self])

    struct RunSchedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-schedule",
            abstract: "Fire a schedule of jobs.yaml now: its job is queued once per tenant workspace (a worker runs them).")
        @Argument(help: "The schedule's name (its job's name unless jobs.yaml names it).") var name: String
        @Flag(help: "Print the run as JSON.") var json = false

        func run() async throws {
            let api = try deployedAPI()
            let scheduler = JobScheduler(schedules: api.scheduledJobs.schedules, queue: JobQueue(definitions: api.scheduledJobs.jobs))
            guard let schedule = scheduler.schedule(named: name) else {
                let known = scheduler.schedules.map(\.name).joined(separator: ", ")
                throw ValidationError("no schedule named '\(name)'; jobs.yaml has: \(known.isEmpty ? "none" : known)")
            }
            let run = try await withOwnerClient { client, logger in
                try await scheduler.fire(schedule, tick: Date(), trigger: .manual, on: client, logger: logger)
            }
            guard let run else { throw ValidationError("another run of '\(name)' was recorded at the same instant; try again") }
            if json {
                var w = JSONWriter()
                run.writeJSON(to: &w)
                print(w.string)
            } else if run.outcome == "skipped" {
                print("skipped \(name): its last run's jobs are still to run (overlap: skip)")
            } else {
                print("fired \(name): \(run.jobs) job(s) queued (run \(run.id))")
            }
        }
    }

    struct Schedules: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "schedules", abstract: "List the schedules, their next tick and last run.")

        func run() async throws {
            let api = try deployedAPI()
            let scheduler = JobScheduler(schedules: api.scheduledJobs.schedules, queue: JobQueue(definitions: api.scheduledJobs.jobs))
            try await withOwnerClient { client, logger in
                for schedule in scheduler.schedules {
                    let last = try await scheduler.runs(of: schedule.name, limit: 1, on: client, logger: logger).first
                    let next = schedule.nextTick(after: Date()).map(RFC3339.format) ?? "never"
                    let lastText = last.map { "\($0.outcome) at \(RFC3339.format($0.firedAt)), \($0.jobs) job(s)" } ?? "never ran"
                    print("\(schedule.name)\t\(schedule.cron) \(schedule.timeZoneName)\tnext \(next)\tlast \(lastText)")
                }
            }
        }
    }
}
