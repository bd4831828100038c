import Foundation
import TrellisContract

/// A cron schedule of `jobs.yaml`, as the generator emits it: which job it enqueues, when
/// (the five cron fields, expanded, read in `timeZone`), and what a tick does while the
/// previous tick's jobs are still to run.
public struct ScheduleDefinition: Sendable {
    public enum Overlap: String, Sendable {
        /// The tick is recorded as skipped and enqueues nothing.
        case skip
        /// The tick enqueues its jobs anyway.
        case queue
    }

    public let name: String
    /// The job type it enqueues (once per tenant workspace).
    public let job: String
    /// The cron expression as written.
    public let cron: String
    public let timeZone: TimeZone
    /// The zone's name as `jobs.yaml` gives it (`UTC`, `Europe/Paris`).
    public let timeZoneName: String
    public let overlap: Overlap
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    /// 0 is Sunday.
    let daysOfWeek: Set<Int>
    private let calendar: Calendar

    /// How far back a tick that no worker fired (all were down, or restarting) is still fired
    /// late; older ones are not caught up.
    public static let catchUp: TimeInterval = 600

    public init(
        name: String, job: String, cron: String, minutes: [Int], hours: [Int], daysOfMonth: [Int], months: [Int],
        daysOfWeek: [Int], timeZone: String, overlap: Overlap
    ) {
        self.name = name
        self.job = job
        self.cron = cron
        self.minutes = Set(minutes)
        self.hours = Set(hours)
        self.daysOfMonth = Set(daysOfMonth)
        self.months = Set(months)
        self.daysOfWeek = Set(daysOfWeek.map { $0 % 7 })
        self.timeZone = TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")!
        timeZoneName = timeZone
        self.overlap = overlap
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = self.timeZone
        self.calendar = calendar
    }

    /// Cron's day rule: when both day fields are restricted, a day matching either runs.
    private func matches(day: Int, weekday: Int) -> Bool {
        let domRestricted = daysOfMonth.count < 31
        let dowRestricted = daysOfWeek.count < 7
        switch (domRestricted, dowRestricted) {
        case (true, true): return daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (true, false): return daysOfMonth.contains(day)
        case (false, true): return daysOfWeek.contains(weekday)
        case (false, false): return true
        }
    }

    /// The time of `hour:minute` on the day of `dayStart`, or nil when the clock skips it
    /// (a daylight-saving gap).
    private func time(on dayStart: Date, hour: Int, minute: Int) -> Date? {
        var parts = calendar.dateComponents([.year, .month, .day], from: dayStart)
        parts.hour = hour
        parts.minute = minute
        guard let date = calendar.date(from: parts) else { return nil }
        let back = calendar.dateComponents([.hour, .minute], from: date)
        return back.hour == hour && back.minute == minute ? date : nil
    }

    /// The starts of the days to search from `date`, one after another (`step` -1 backwards,
    /// 1 forwards), for at most a little over four years (a 29 February schedule).
    private func days(from date: Date, step: Int) -> some Sequence<Date> {
        let first = calendar.startOfDay(for: date)
        return (0...1500).lazy.compactMap { offset in calendar.date(byAdding: .day, value: offset * step, to: first) }
    }

    private func dayMatches(_ start: Date) -> Bool {
        let parts = calendar.dateComponents([.month, .day, .weekday], from: start)
        guard let month = parts.month, let day = parts.day, let weekday = parts.weekday else { return false }
        return months.contains(month) && matches(day: day, weekday: weekday - 1)
    }

    /// The latest tick at or before `date`; nil when none falls in the four years before it.
    public func latestTick(atOrBefore date: Date) -> Date? {
        for start in days(from: date, step: -1) where dayMatches(start) {
            for hour in hours.sorted(by: >) {
                for minute in minutes.sorted(by: >) {
                    if let tick = time(on: start, hour: hour, minute: minute), tick <= date { return tick }
                }
            }
        }
        return nil
    }

    /// The first tick after `date`; nil when none falls in the next four years.
    public func nextTick(after date: Date) -> Date? {
        for start in days(from: date, step: 1) where dayMatches(start) {
            for hour in hours.sorted() {
                for minute in minutes.sorted() {
                    if let tick = time(on: start, hour: hour, minute: minute), tick > date { return tick }
                }
            }
        }
        return nil
    }
}

extension ScheduleDefinition {
    /// This schedule firing on `cron` instead.
    public func retimed(_ cron: CronExpression) -> ScheduleDefinition {
        ScheduleDefinition(
            name: name, job: job, cron: cron.source, minutes: cron.minutes, hours: cron.hours, daysOfMonth: cron.daysOfMonth,
            months: cron.months, daysOfWeek: cron.daysOfWeek, timeZone: timeZoneName, overlap: overlap)
    }

    /// `schedules` with the crons a deployment sets in `TRELLIS_JOBS_CRON`
    /// (`name=expression;name=expression`, e.g. `messages.cleanup=*/15 * * * *` on staging);
    /// one message per unknown name or bad expression.
    public static func retiming(
        _ schedules: [ScheduleDefinition], _ env: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> [ScheduleDefinition] {
        guard let text = env["TRELLIS_JOBS_CRON"] else { return schedules }
        var problems: [String] = []
        var crons: [String: CronExpression] = [:]
        for item in text.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, schedules.contains(where: { $0.name == parts[0] }) else {
                let known = schedules.map(\.name).sorted().joined(separator: ", ")
                problems.append("TRELLIS_JOBS_CRON: '\(item)' is not name=cron for a schedule of jobs.yaml (\(known))")
                continue
            }
            switch CronParser.parse(parts[1]) {
            case let .success(cron): crons[parts[0]] = cron
            case let .failure(error): problems.append("TRELLIS_JOBS_CRON: invalid cron '\(parts[1])' for \(parts[0]): \(error.message)")
            }
        }
        guard problems.isEmpty else { throw ServerConfiguration.Invalid(problems: problems) }
        return schedules.map { schedule in crons[schedule.name].map(schedule.retimed) ?? schedule }
    }
}
