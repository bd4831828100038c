import Testing
import TrellisSchema

@Suite("jobs.yaml")
struct JobsTests {
    func jobs(_ yaml: String) -> [String] { Fixture.diagnostics([("schema/jobs.yaml", yaml)]) }

    static let header = """
        jobs:
          cleanup: { payload: { days: { type: integer, default: 30 } } }
        schedules:

        """

    @Test func jobDefaultsAreFilledIn() throws {
        let model = try #require(Fixture.model([("schema/jobs.yaml", "jobs:\n  ping: {}\n")]))
        let job = try #require(model.jobs.first)
        #expect(job.name == "ping" && job.queue == "default" && job.priority == 0 && job.maxAttempts == 20)
        #expect(job.backoff == Backoff(base: 15, cap: 3600) && job.timeout == 300 && job.uniqueFor == nil)
        #expect(job.payload.isEmpty)
        #expect(job.location.description == "schema/jobs.yaml:2:3")
    }

    @Test func jobOptionsAreRead() throws {
        let yaml = """
            jobs:
              send_email:
                queue: mail
                priority: -5
                max_attempts: 3
                backoff: { base: 1m, cap: 2h }
                timeout: 90
                unique_for: 1d
                payload:
                  to: { type: email, required: true, pii: true }
            """
        let job = try #require(Fixture.model([("schema/jobs.yaml", yaml)])?.jobs.first)
        #expect(job.queue == "mail" && job.priority == -5 && job.maxAttempts == 3)
        #expect(job.backoff == Backoff(base: 60, cap: 7200) && job.timeout == 90 && job.uniqueFor == 86400)
        #expect(job.payload.map(\.name) == ["to"] && job.payload.first?.pii == true)
    }

    @Test func jobProblemsAreAllReported() {
        let yaml = """
            jobs:
              SendEmail: {}
              resize: { max_attempts: 0, backoff: { base: 2h, cap: 1h }, retries: 3 }
              notify: { payload: { user_id: { type: uuid, references: users } } }
            """
        #expect(jobs(yaml) == [
            "schema/jobs.yaml:2:3: error: job name 'SendEmail' must be dotted snake_case such as 'agents.generate_summary' (segments of lowercase letters, digits and '_', each starting with a letter, joined by '.'), at most 100 characters",
            "schema/jobs.yaml:3:27: error: 'max_attempts' must be a positive integer, found 0",
            "schema/jobs.yaml:3:47: error: backoff 'base' (7200s) is longer than 'cap' (3600s)",
            "schema/jobs.yaml:3:62: error: unknown key 'retries' in job 'resize'",
            "schema/jobs.yaml:4:47: error: 'references' is not allowed on a job payload field",
        ])
    }

    @Test func validCronIsExpanded() throws {
        let yaml = Self.header + """
              - { job: cleanup, cron: "*/15 9-17 1,15 JAN-MAR/2 MON-FRI", time_zone: Europe/Paris }
              - { name: cleanup.sundays, job: cleanup, cron: "5/20 0 * * 7", overlap: queue }
              - { name: cleanup.weekly, job: cleanup, cron: "@weekly" }
            """
        let schedules = try #require(Fixture.model([("schema/jobs.yaml", yaml)])?.schedules)
        #expect(schedules.count == 3)
        #expect(schedules.map(\.name) == ["cleanup", "cleanup.sundays", "cleanup.weekly"])
        #expect(schedules.map(\.overlap) == [.skip, .queue, .skip])
        let cron = schedules[0].cron
        #expect(cron.minutes == [0, 15, 30, 45])
        #expect(cron.hours == Array(9...17))
        #expect(cron.daysOfMonth == [1, 15])
        #expect(cron.months == [1, 3])
        #expect(cron.daysOfWeek == [1, 2, 3, 4, 5])
        #expect(cron.source == "*/15 9-17 1,15 JAN-MAR/2 MON-FRI")
        #expect(schedules[0].timeZone == "Europe/Paris")
        #expect(schedules[1].cron.minutes == [5, 25, 45] && schedules[1].cron.daysOfWeek == [0])
        #expect(schedules[1].timeZone == "UTC")
        #expect(schedules[2].cron.minutes == [0] && schedules[2].cron.daysOfWeek == [0])
    }

    @Test func twoSchedulesOfOneJobNeedNamesAndOverlapIsSkipOrQueue() {
        let yaml = Self.header + """
              - { job: cleanup, cron: "0 3 * * *" }
              - { job: cleanup, cron: "0 4 * * *", overlap: sometimes }
              - { job: cleanup, cron: "0 5 * * *" }
              - { name: Nightly, job: cleanup, cron: "0 6 * * *" }
            """
        let problems = jobs(yaml)
        #expect(problems.contains { $0.contains("'overlap' must be 'skip' or 'queue', found 'sometimes'") })
        #expect(problems.contains { $0.contains("two schedules are named 'cleanup'") && $0.contains("give each its own 'name'") })
        #expect(problems.contains { $0.contains("schedule name 'Nightly' must be dotted snake_case") })
    }

    @Test func invalidCronNamesTheFieldAndPointsAtIt() {
        let yaml = Self.header + """
              - { job: cleanup, cron: "61 3 * * *" }
              - { job: cleanup, cron: "0 3 * *" }
              - { job: cleanup, cron: "*/0 3 * * *" }
              - { job: cleanup, cron: "0 */x * * *" }
              - { job: cleanup, cron: "0 3 * JUNE *" }
              - { job: cleanup, cron: "0 5-1 * * *" }
              - { job: cleanup, cron: "0 0 30 2 *" }
            """
        #expect(jobs(yaml) == [
            "schema/jobs.yaml:4:28: error: invalid cron '61 3 * * *': minute value 61 is out of range 0-59",
            "schema/jobs.yaml:5:27: error: invalid cron '0 3 * *': cron expression must have 5 fields (minute hour day-of-month month day-of-week), found 4",
            "schema/jobs.yaml:6:28: error: invalid cron '*/0 3 * * *': minute has an invalid step '0': a step must be a positive whole number",
            "schema/jobs.yaml:7:30: error: invalid cron '0 */x * * *': hour has an invalid step 'x': a step must be a positive whole number",
            "schema/jobs.yaml:8:34: error: invalid cron '0 3 * JUNE *': month has an invalid value 'JUNE' (did you mean 'JUN'?); expected a number 1-12 or a name JAN-DEC",
            "schema/jobs.yaml:9:30: error: invalid cron '0 5-1 * * *': hour range '5-1' runs backwards",
            "schema/jobs.yaml:10:27: error: invalid cron '0 0 30 2 *': cron expression never fires: day-of-month 30 does not occur in the listed months",
        ])
    }

    @Test func scheduleMustNameADeclaredJobInAKnownTimeZone() {
        let yaml = Self.header + """
              - { job: cleanpu, cron: "0 3 * * *" }
              - { job: cleanup, cron: "0 3 * * *", time_zone: Europe/Pariss }
              - { job: cleanup }
            """
        #expect(jobs(yaml) == [
            "schema/jobs.yaml:4:12: error: schedule names unknown job 'cleanpu' (did you mean 'cleanup'?)",
            "schema/jobs.yaml:5:51: error: unknown time zone 'Europe/Pariss' (did you mean 'Europe/Paris'?); use an IANA name such as 'Europe/Paris'",
            "schema/jobs.yaml:6:5: error: missing required key 'cron' in a schedule",
        ])
    }

    @Test func scheduledJobCannotHaveRequiredPayloadFields() {
        let yaml = """
            jobs:
              summarize: { payload: { swarm_id: { type: uuid, required: true } } }
            schedules:
              - { job: summarize, cron: "0 * * * *" }
            """
        #expect(jobs(yaml) == [
            "schema/jobs.yaml:4:12: error: job 'summarize' cannot be scheduled: its payload field 'swarm_id' is required, and a schedule enqueues an empty payload",
        ])
    }
}
