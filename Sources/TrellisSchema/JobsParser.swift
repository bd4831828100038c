import Foundation
import TrellisContract
import Yams

/// Reads `schema/jobs.yaml`: job types and their cron schedules.
struct JobsParser {
    let reader: NodeReader

    func parse(_ root: Node) -> (jobs: [JobType], schedules: [Schedule]) {
        guard let view = reader.mapping(root, what: "jobs.yaml", allowed: SchemaVocabulary.jobsFileKeys) else {
            return ([], [])
        }
        var jobs: [JobType] = []
        var declared: [String] = []
        if let entry = view["jobs"], let jobsView = reader.mapping(entry.value, what: "'jobs'") {
            for jobEntry in jobsView.entries {
                declared.append(jobEntry.key)
                if let job = job(jobEntry) { jobs.append(job) }
            }
        }
        var schedules: [Schedule] = []
        if let entry = view["schedules"], let items = reader.sequence(entry.value, for: entry.label) {
            schedules = items.compactMap { schedule($0, jobs: jobs, declared: declared) }
            var named: [String: Schedule] = [:]
            for schedule in schedules {
                if let first = named[schedule.name] {
                    reader.error(
                        "two schedules are named '\(schedule.name)' (the first at line \(first.location.line)); give each its own 'name'",
                        at: schedule.location)
                } else {
                    named[schedule.name] = schedule
                }
            }
        }
        return (jobs.sorted { $0.name < $1.name }, schedules)
    }

    // MARK: - Jobs

    private func job(_ entry: MappingEntry) -> JobType? {
        let name = entry.key
        var valid = true
        if !Self.isJobName(name) {
            reader.error(
                "job name '\(name)' must be dotted snake_case such as 'agents.generate_summary' (segments of lowercase letters, digits and '_', each starting with a letter, joined by '.'), at most 100 characters",
                at: entry.keyNode)
            valid = false
        }
        let owner = "job '\(name)'"
        guard let view = reader.mapping(entry.value, what: owner, allowed: SchemaVocabulary.jobKeys) else { return nil }
        var job = JobType(name: name, payload: [], location: reader.location(of: entry.keyNode))

        func read<T>(_ key: String, _ convert: (MappingEntry) -> T?) -> T? {
            guard let option = view[key] else { return nil }
            let value = convert(option)
            if value == nil { valid = false }
            return value
        }
        job.description = read("description") { reader.string($0.value, for: $0.label) }
        if let queue = read("queue", queueName) { job.queue = queue }
        if let priority = read("priority", { reader.integer($0.value, for: $0.label) }) { job.priority = priority }
        if let attempts = read("max_attempts", { reader.integer($0.value, for: $0.label, atLeast: 1) }) {
            job.maxAttempts = attempts
        }
        if let backoff = read("backoff", readBackoff) { job.backoff = backoff }
        if let timeout = read("timeout", { positiveDuration($0) }) { job.timeout = timeout }
        job.uniqueFor = read("unique_for") { positiveDuration($0) }
        if let payloadEntry = view["payload"] {
            let parsed = FieldParser(reader: reader, context: .payload)
                .parseFields(payloadEntry.value, what: "the payload of \(owner)")
            job.payload = parsed.fields
            valid = valid && payloadEntry.value.isMapping && parsed.fields.count == parsed.declaredNames.count
        }
        return valid ? job : nil
    }

    /// `agents.generate_summary`: snake_case segments joined by dots, at most 100 characters.
    static func isJobName(_ name: String) -> Bool {
        guard name.utf8.count <= 100 else { return false }
        let segments = name.split(separator: ".", omittingEmptySubsequences: false)
        return segments.allSatisfy { ValueSyntax.isSnakeCase(String($0)) }
    }

    private func queueName(_ entry: MappingEntry) -> String? {
        guard let queue = reader.string(entry.value, for: entry.label) else { return nil }
        guard ValueSyntax.isPathSegment(queue), queue.first?.isLetter == true else {
            reader.error("queue name '\(queue)' must be lowercase letters, digits, '-' and '_', starting with a letter",
                         at: entry.value)
            return nil
        }
        return queue
    }

    private func positiveDuration(_ entry: MappingEntry) -> Int? {
        guard let seconds = reader.duration(entry.value, for: entry.label) else { return nil }
        guard seconds > 0 else {
            reader.error("\(entry.label) must be longer than zero", at: entry.value)
            return nil
        }
        return seconds
    }

    private func readBackoff(_ entry: MappingEntry) -> Backoff? {
        guard let view = reader.mapping(entry.value, what: "'backoff'", allowed: SchemaVocabulary.backoffKeys) else {
            return nil
        }
        var backoff = Backoff(base: 15, cap: 3600)
        let base = view["base"].map(positiveDuration)
        let cap = view["cap"].map(positiveDuration)
        if base == .some(nil) || cap == .some(nil) { return nil }
        if let base = base ?? nil { backoff.base = base }
        if let cap = cap ?? nil { backoff.cap = cap }
        guard backoff.base <= backoff.cap else {
            let node = view["base"]?.value ?? entry.value
            reader.error("backoff 'base' (\(backoff.base)s) is longer than 'cap' (\(backoff.cap)s)", at: node)
            return nil
        }
        return backoff
    }

    // MARK: - Schedules

    private func schedule(_ node: Node, jobs: [JobType], declared: [String]) -> Schedule? {
        guard let view = reader.mapping(node, what: "a schedule", allowed: SchemaVocabulary.scheduleKeys) else {
            return nil
        }
        let jobEntry = reader.require("job", in: view, what: "a schedule")
        let cronEntry = reader.require("cron", in: view, what: "a schedule")
        var jobName = jobEntry.flatMap { reader.string($0.value, for: $0.label) }
        if let name = jobName, let entry = jobEntry {
            if !declared.contains(name) {
                reader.error("schedule names unknown job '\(name)'\(Suggestions.didYouMean(name, in: declared))",
                             at: entry.value)
                jobName = nil
            } else if let job = jobs.first(where: { $0.name == name }),
                      let field = job.payload.first(where: { $0.required }) {
                reader.error(
                    "job '\(name)' cannot be scheduled: its payload field '\(field.name)' is required, and a schedule enqueues an empty payload",
                    at: entry.value)
                jobName = nil
            }
        }
        let cron = cronEntry.flatMap(readCron)
        var timeZone = "UTC"
        if let zoneEntry = view["time_zone"] {
            guard let zone = reader.string(zoneEntry.value, for: zoneEntry.label) else { return nil }
            guard TimeZone(identifier: zone) != nil else {
                let hint = Suggestions.didYouMean(zone, in: TimeZone.knownTimeZoneIdentifiers + ["UTC"])
                reader.error("unknown time zone '\(zone)'\(hint); use an IANA name such as 'Europe/Paris'",
                             at: zoneEntry.value)
                return nil
            }
            timeZone = zone
        }
        var name: String?
        if let nameEntry = view["name"] {
            guard let text = reader.string(nameEntry.value, for: nameEntry.label) else { return nil }
            guard Self.isJobName(text) else {
                reader.error("schedule name '\(text)' must be dotted snake_case such as 'messages.nightly_cleanup'", at: nameEntry.value)
                return nil
            }
            name = text
        }
        var overlap = Schedule.Overlap.skip
        if let overlapEntry = view["overlap"] {
            guard let text = reader.string(overlapEntry.value, for: overlapEntry.label) else { return nil }
            guard let parsed = Schedule.Overlap(rawValue: text) else {
                reader.error("'overlap' must be 'skip' or 'queue', found '\(text)'", at: overlapEntry.value)
                return nil
            }
            overlap = parsed
        }
        guard let jobName, let cron else { return nil }
        return Schedule(
            name: name, job: jobName, cron: cron, timeZone: timeZone, overlap: overlap, location: reader.location(of: node))
    }

    private func readCron(_ entry: MappingEntry) -> CronExpression? {
        guard let text = reader.string(entry.value, for: entry.label) else { return nil }
        switch CronParser.parse(text) {
        case let .success(expression):
            return expression
        case let .failure(error):
            reader.error("invalid cron '\(text)': \(error.message)", at: cronLocation(entry.value, offset: error.offset))
            return nil
        }
    }

    /// The column of the wrong part of a one-line cron string, else the string's start.
    private func cronLocation(_ node: Node, offset: Int?) -> SourceLocation {
        var location = reader.location(of: node)
        guard let offset, case let .scalar(scalar) = node, !scalar.string.contains("\n") else { return location }
        switch scalar.style {
        case .plain, .any: location.column += offset
        case .singleQuoted, .doubleQuoted: location.column += offset + 1
        case .literal, .folded: break
        }
        return location
    }
}
