import Foundation
import Logging
import PostgresNIO

/// Fires the cron schedules of `jobs.yaml` (migration 0013): each tick once, however many
/// workers look at it, enqueuing the schedule's job once per tenant workspace in the same
/// transaction that records the tick; keeps and reads the run history. Workers call
/// ``fireDue(now:on:logger:)`` every poll; the admin API and `trellis jobs run-schedule` call
/// ``fire(_:tick:trigger:on:logger:)`` for a manual run.
public struct JobScheduler: Sendable {
    /// The longest wait for a pooled connection (`TRELLIS_PG_LEASE_TIMEOUT` in a server).
    public var leaseTimeout: Duration = .seconds(5)
    public enum Trigger: String, Sendable {
        case cron, manual
    }

    /// One recorded tick.
    public struct Run: Sendable, JSONWritable {
        public var id: Int64
        public var tick: Date
        public var trigger: String
        /// `fired` or `skipped`.
        public var outcome: String
        public var jobs: Int
        public var firedAt: Date
        /// Of this run's jobs: still to run, completed, and dead or cancelled.
        public var pending = 0
        public var completed = 0
        public var failed = 0

        public func writeJSON(to w: inout JSONWriter) {
            w.beginObject()
            w.key("id"); w.value(id)
            w.key("tick"); w.value(tick)
            w.key("trigger"); w.value(trigger)
            w.key("outcome"); w.value(outcome)
            w.key("jobs"); w.value(Int64(jobs))
            w.key("pending"); w.value(Int64(pending))
            w.key("completed"); w.value(Int64(completed))
            w.key("failed"); w.value(Int64(failed))
            w.key("fired_at"); w.value(firedAt)
            w.endObject()
        }
    }

    public let schedules: [ScheduleDefinition]
    let queue: JobQueue

    public init(schedules: [ScheduleDefinition], queue: JobQueue) {
        self.schedules = schedules
        self.queue = queue
    }

    public func schedule(named name: String) -> ScheduleDefinition? {
        schedules.first { $0.name == name }
    }

    /// Fires every schedule whose latest tick (at most ``ScheduleDefinition/catchUp`` old) is
    /// not in `fired` yet; returns the ticks it saw recorded (by this call or another worker),
    /// by schedule name, to pass back next time so an unchanged tick costs no query.
    public func fireDue(
        now: Date, after fired: [String: Date], on postgres: PostgresClient, logger: Logger
    ) async -> [String: Date] {
        var seen = fired
        for schedule in schedules {
            guard let tick = schedule.latestTick(atOrBefore: now), now.timeIntervalSince(tick) <= ScheduleDefinition.catchUp,
                fired[schedule.name] != tick
            else { continue }
            do {
                let run = try await fire(schedule, tick: tick, trigger: .cron, on: postgres, logger: logger)
                if let run {
                    logger.info("schedule fired", metadata: [
                        "schedule": "\(schedule.name)", "tick": "\(RFC3339.format(tick))", "outcome": "\(run.outcome)", "jobs": "\(run.jobs)",
                    ])
                }
                seen[schedule.name] = tick
            } catch {
                logger.warning("could not fire a schedule; the next poll tries again",
                               metadata: ["schedule": "\(schedule.name)", "error": "\(String(reflecting: error))"])
            }
        }
        return seen
    }

    /// Records `tick` of `schedule` and enqueues its jobs, unless another worker recorded it
    /// first (nil).
    public func fire(
        _ schedule: ScheduleDefinition, tick: Date, trigger: Trigger, on postgres: PostgresClient, logger: Logger
    ) async throws -> Run? {
        guard let definition = queue.definitions[schedule.job], case let .valid(payload) = definition.normalize(.object(JSONObject())) else {
            // The generator checked that the job exists and takes an empty payload.
            throw JobSchedulerError.scheduleWithoutJob(schedule.name)
        }
        let rows = try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
            try await connection.query(
                """
                SELECT run, outcome, jobs FROM trellis_jobs_fire_schedule(
                    \(schedule.name), \(tick), \(trigger.rawValue), \(schedule.overlap == .skip), \(definition.type), \(definition.queue),
                    \(Int32(definition.priority)), \(payload)::jsonb, \(Int32(definition.maxAttempts)), \(Int32(definition.timeoutSeconds)),
                    \(Int32(definition.backoff.base)), \(Int32(definition.backoff.cap)))
                """, logger: logger
            ).decode((Int64, String, Int32).self).all()
        }
        guard let (id, outcome, jobs) = rows.first else { return nil }
        return Run(id: id, tick: tick, trigger: trigger.rawValue, outcome: outcome, jobs: Int(jobs), firedAt: Date())
    }

    /// The schedule's latest runs, newest first.
    public func runs(of name: String, limit: Int, on postgres: PostgresClient, logger: Logger) async throws -> [Run] {
        try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
            try await connection.query(
                """
                SELECT id, tick, trigger, outcome, jobs, fired_at, pending, completed, failed
                FROM trellis_jobs_schedule_runs(\(name), \(Int32(limit)))
                """, logger: logger
            ).decode((Int64, Date, String, String, Int32, Date, Int64, Int64, Int64).self).all().map { row in
                Run(id: row.0, tick: row.1, trigger: row.2, outcome: row.3, jobs: Int(row.4), firedAt: row.5,
                    pending: Int(row.6), completed: Int(row.7), failed: Int(row.8))
            }
        }
    }
}

enum JobSchedulerError: Error, CustomStringConvertible {
    case scheduleWithoutJob(String)

    var description: String {
        switch self {
        case let .scheduleWithoutJob(name): "schedule '\(name)' names no job type of this API, or one whose payload needs fields"
        }
    }
}
