import Foundation
import Testing
import TrellisRuntime

@Suite("Cron ticks of a schedule")
struct ScheduleDefinitionTests {
    static func schedule(
        minutes: [Int], hours: [Int], days: [Int] = Array(1...31), months: [Int] = Array(1...12), weekdays: [Int] = Array(0...6),
        zone: String = "UTC"
    ) -> ScheduleDefinition {
        ScheduleDefinition(
            name: "s", job: "j", cron: "", minutes: minutes, hours: hours, daysOfMonth: days, months: months, daysOfWeek: weekdays,
            timeZone: zone, overlap: .skip)
    }

    static func at(_ text: String) -> Date { RFC3339.parse(text)! }

    @Test func trellisJobsCronRetimesANamedScheduleAndRefusesUnknownNamesAndBadExpressions() throws {
        let daily = ScheduleDefinition(
            name: "messages.cleanup", job: "messages.cleanup", cron: "0 3 * * *", minutes: [0], hours: [3], daysOfMonth: Array(1...31),
            months: Array(1...12), daysOfWeek: Array(0...6), timeZone: "Europe/Paris", overlap: .queue)
        let retimed = try ScheduleDefinition.retiming([daily], ["TRELLIS_JOBS_CRON": "messages.cleanup=*/15 * * * *"])
        #expect(retimed.count == 1 && retimed[0].cron == "*/15 * * * *" && retimed[0].timeZoneName == "Europe/Paris")
        #expect(retimed[0].overlap == .queue)
        #expect(retimed[0].nextTick(after: Self.at("2026-12-01T10:01:00Z")) == Self.at("2026-12-01T10:15:00Z"))
        #expect(try ScheduleDefinition.retiming([daily], [:])[0].cron == "0 3 * * *")
        do {
            _ = try ScheduleDefinition.retiming([daily], ["TRELLIS_JOBS_CRON": "messages.clean=* * * * *; messages.cleanup=61 * * * *"])
            Issue.record("accepted an unknown schedule and a bad cron")
        } catch let invalid as ServerConfiguration.Invalid {
            #expect(invalid.problems.count == 2, "\(invalid.problems)")
            #expect(invalid.problems.first?.contains("'messages.clean=* * * * *' is not name=cron for a schedule of jobs.yaml (messages.cleanup)") == true)
            #expect(invalid.problems.last?.contains("minute value 61 is out of range 0-59") == true)
        }
    }

    @Test func aDailyScheduleFindsTodaysTickAndTomorrowsNext() {
        let daily = Self.schedule(minutes: [0], hours: [3])
        #expect(daily.latestTick(atOrBefore: Self.at("2026-12-01T10:00:00Z")) == Self.at("2026-12-01T03:00:00Z"))
        #expect(daily.latestTick(atOrBefore: Self.at("2026-12-01T02:59:59Z")) == Self.at("2026-11-30T03:00:00Z"))
        #expect(daily.latestTick(atOrBefore: Self.at("2026-12-01T03:00:00Z")) == Self.at("2026-12-01T03:00:00Z"))
        #expect(daily.nextTick(after: Self.at("2026-12-01T03:00:00Z")) == Self.at("2026-12-02T03:00:00Z"))
    }

    @Test func everyQuarterHourTicksOnTheQuarter() {
        let quarterly = Self.schedule(minutes: [0, 15, 30, 45], hours: Array(0...23))
        #expect(quarterly.latestTick(atOrBefore: Self.at("2026-12-01T10:44:59Z")) == Self.at("2026-12-01T10:30:00Z"))
        #expect(quarterly.nextTick(after: Self.at("2026-12-01T23:50:00Z")) == Self.at("2026-12-02T00:00:00Z"))
    }

    @Test func theCronFieldsAreReadInTheSchedulesTimeZone() {
        // 09:00 in Tokyo is 00:00 UTC.
        let tokyo = Self.schedule(minutes: [0], hours: [9], zone: "Asia/Tokyo")
        #expect(tokyo.latestTick(atOrBefore: Self.at("2026-12-01T10:00:00Z")) == Self.at("2026-12-01T00:00:00Z"))
    }

    @Test func aTimeTheClockSkipsForDaylightSavingDoesNotTick() {
        // Paris skips 02:00–03:00 on 29 March 2026: 02:30 that day never happens.
        let paris = Self.schedule(minutes: [30], hours: [2], zone: "Europe/Paris")
        #expect(paris.nextTick(after: Self.at("2026-03-28T02:00:00Z")) == Self.at("2026-03-30T00:30:00Z"))
    }

    @Test func restrictedDayOfMonthAndDayOfWeekTickOnEither() {
        // "0 0 13 * 5": the 13th, and every Friday.
        let either = Self.schedule(minutes: [0], hours: [0], days: [13], weekdays: [5])
        // Tuesday 1 December 2026 -> Friday 4 December comes before the 13th.
        #expect(either.nextTick(after: Self.at("2026-12-01T00:00:00Z")) == Self.at("2026-12-04T00:00:00Z"))
        #expect(either.nextTick(after: Self.at("2026-12-11T00:00:00Z")) == Self.at("2026-12-13T00:00:00Z"))
        // Only the day of month restricted: the 13th alone.
        let thirteenth = Self.schedule(minutes: [0], hours: [0], days: [13])
        #expect(thirteenth.nextTick(after: Self.at("2026-12-01T00:00:00Z")) == Self.at("2026-12-13T00:00:00Z"))
    }

    @Test func theTwentyNinthOfFebruaryIsFoundYearsAhead() {
        let leap = Self.schedule(minutes: [0], hours: [12], days: [29], months: [2])
        #expect(leap.nextTick(after: Self.at("2026-12-01T00:00:00Z")) == Self.at("2028-02-29T12:00:00Z"))
    }
}
