import Testing
@testable import TrellisContract
import TrellisSchema

@Suite("Cron expressions")
struct CronParserTests {
    func parse(_ text: String) -> CronExpression? {
        if case let .success(cron) = CronParser.parse(text) { return cron }
        return nil
    }

    func failure(_ text: String) -> CronParseError? {
        if case let .failure(error) = CronParser.parse(text) { return error }
        return nil
    }

    @Test func everyMinuteExpandsEveryField() throws {
        let cron = try #require(parse("* * * * *"))
        #expect(cron.minutes == Array(0...59) && cron.hours == Array(0...23))
        #expect(cron.daysOfMonth == Array(1...31) && cron.months == Array(1...12) && cron.daysOfWeek == Array(0...6))
    }

    @Test func listsRangesStepsAndNamesCombine() throws {
        let cron = try #require(parse("0,30 8-18/5 */10 jun,Dec sat-sun"))
        #expect(cron.minutes == [0, 30])
        #expect(cron.hours == [8, 13, 18])
        #expect(cron.daysOfMonth == [1, 11, 21, 31])
        #expect(cron.months == [6, 12])
        #expect(cron.daysOfWeek == [0, 6])
    }

    @Test func sundayIsZeroOrSeven() throws {
        #expect(try #require(parse("0 0 * * 0,7")).daysOfWeek == [0])
        #expect(try #require(parse("0 0 * * 5-7")).daysOfWeek == [0, 5, 6])
        #expect(try #require(parse("0 0 * * FRI-SUN")).daysOfWeek == [0, 5, 6])
    }

    @Test func macrosExpand() throws {
        #expect(try #require(parse("@hourly")).minutes == [0])
        #expect(try #require(parse("@monthly")).daysOfMonth == [1])
        #expect(try #require(parse("@yearly")).months == [1])
    }

    @Test func errorsNameTheFieldAndItsOffset() {
        #expect(failure("61 3 * * *") == CronParseError(message: "minute value 61 is out of range 0-59", offset: 0))
        #expect(failure("0 24 * * *") == CronParseError(message: "hour value 24 is out of range 0-23", offset: 2))
        #expect(failure("0 0 0 * *") == CronParseError(message: "day-of-month value 0 is out of range 1-31", offset: 4))
        #expect(failure("0 0 * 1,13 *") == CronParseError(message: "month value 13 is out of range 1-12", offset: 8))
        #expect(failure("0 0 * * 8") == CronParseError(message: "day-of-week value 8 is out of range 0-7", offset: 8))
        #expect(failure("0 0 * * MON-") == CronParseError(
            message: "day-of-week has an invalid value ''; expected a number 0-7 or a name SUN-SAT", offset: 8))
        #expect(failure("1,,2 * * * *") == CronParseError(message: "minute has an empty list item in '1,,2'", offset: 2))
        #expect(failure("*/5/2 * * * *")?.message == "minute has more than one '/' in '*/5/2'")
        #expect(failure("*/61 * * * *")?.message == "minute step 61 is larger than the field's range 0-59")
        #expect(failure("* * * * * *")?.message
            == "cron expression must have 5 fields (minute hour day-of-month month day-of-week), found 6")
        #expect(failure("")?.message
            == "cron expression must have 5 fields (minute hour day-of-month month day-of-week), found 0")
    }

    @Test func impossibleDatesAreRejectedUnlessAWeekdayIsGiven() {
        #expect(failure("0 0 31 4,6 *")?.message
            == "cron expression never fires: day-of-month 31 does not occur in the listed months")
        #expect(parse("0 0 29 2 *") != nil)
        #expect(parse("0 0 31 4 MON") != nil)
    }
}
