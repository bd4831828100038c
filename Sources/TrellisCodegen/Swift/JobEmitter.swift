import TrellisContract
import TrellisSchema

/// Emits one typed payload per job type of `jobs.yaml` (validated like a resource's create
/// body: every problem at once, unknown fields refused, defaults filled in) and the list of
/// job definitions the runtime queues and the worker runs.
enum JobEmitter {
    static func emit(_ schema: SchemaModel, into w: inout SwiftWriter) {
        for job in schema.jobs {
            emitPayload(job, into: &w)
            w.line()
        }
        w.line("/// The job types of `schema/jobs.yaml`.")
        w.block("public enum GeneratedJobs") { w in
            w.line("public static let definitions: [JobDefinition] = [")
            w.indented { w in
                for job in schema.jobs {
                    let unique = job.uniqueFor.map(String.init) ?? "nil"
                    w.line("JobDefinition(")
                    w.indented { w in
                        w.line("\(payloadName(job)).self, description: \(job.description.map(SwiftNaming.literal) ?? "nil"),")
                        w.line("queue: \(SwiftNaming.literal(job.queue)), priority: \(job.priority), maxAttempts: \(job.maxAttempts),")
                        w.line("backoff: JobBackoff(base: \(job.backoff.base), cap: \(job.backoff.cap)), timeoutSeconds: \(job.timeout), uniqueForSeconds: \(unique)),")
                    }
                }
            }
            w.line("]")
            w.line()
            w.line("public static let schedules: [ScheduleDefinition] = [")
            w.indented { w in
                for schedule in schema.schedules {
                    let c = schedule.cron
                    func list(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ", ") + "]" }
                    w.line("ScheduleDefinition(")
                    w.indented { w in
                        w.line("name: \(SwiftNaming.literal(schedule.name)), job: \(SwiftNaming.literal(schedule.job)), cron: \(SwiftNaming.literal(c.source)),")
                        w.line("minutes: \(list(c.minutes)), hours: \(list(c.hours)),")
                        w.line("daysOfMonth: \(list(c.daysOfMonth)), months: \(list(c.months)), daysOfWeek: \(list(c.daysOfWeek)),")
                        w.line("timeZone: \(SwiftNaming.literal(schedule.timeZone)), overlap: .\(schedule.overlap.rawValue)),")
                    }
                }
            }
            w.line("]")
        }
    }

    /// `agents.generate_summary` -> `AgentsGenerateSummaryPayload`.
    static func payloadName(_ job: JobType) -> String {
        job.name.split(separator: ".").map { SwiftNaming.type(String($0)) }.joined() + "Payload"
    }

    private static func emitPayload(_ job: JobType, into w: inout SwiftWriter) {
        let name = payloadName(job)
        // The payload's fields, mapped as a resource's are (types, enums, patterns, readers).
        let model = ResourceModel(Resource(
            name: String(name.dropLast("Payload".count)), table: "", path: "", fields: job.payload,
            scopes: Scopes(read: "", write: ""), file: "schema/jobs.yaml", location: job.location))
        ModelEmitter.emitEnums(model, into: &w)
        InputEmitter.emitPatterns(model, into: &w)
        w.doc(job.description)
        if job.description != nil { w.line("///") }
        w.line("/// The payload of job `\(job.name)`, generated from `schema/jobs.yaml`.")
        w.block("public struct \(name): JobPayload, Hashable") { w in
            w.line("public static let jobType = \(SwiftNaming.literal(job.name))")
            w.line()
            for f in model.fields {
                w.line("public var \(f.property): \(f.swiftType)")
            }
            w.line()
            let parameters = model.fields.map { "\(bare($0)): \($0.swiftType)\($0.isOptional ? " = nil" : "")" }
            w.block("public init(\(parameters.joined(separator: ", ")))") { w in
                for f in model.fields {
                    w.line("self.\(bare(f)) = \(bare(f))")
                }
            }
            w.line()
            InputEmitter.emitCreateValidator(name, fields: model.fields, readOnly: [], into: &w)
            w.line()
            w.block("public func writeJSON(to w: inout JSONWriter)") { w in
                w.line("w.beginObject()")
                ModelEmitter.emitFieldMembers(model.fields, into: &w)
                w.line("w.endObject()")
            }
        }
    }

    private static func bare(_ f: ResourceModel.FieldModel) -> String {
        f.property.replacingOccurrences(of: "`", with: "")
    }
}
