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
        for (typeName, values) in model.enums {
            w.block("public enum \(typeName): String, SchemaEnum") { w in
                for value in values {
                    let caseName = SwiftNaming.enumCase(value)
                    w.line(caseName == value ? "case \(caseName)" : "case \(caseName) = \(SwiftNaming.literal(value))")
                }
            }
            w.line()
        }
        if !model.patterns.isEmpty {
            w.block("enum \(model.name)Patterns") { w in
                for (member, pattern) in model.patterns {
                    w.line("static let \(member) = FieldPattern(\(SwiftNaming.literal(pattern)))")
                }
            }
            w.line()
        }
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
                for f in model.fields {
                    let key = "w.key(\(SwiftNaming.literal(f.name)))"
                    if f.isOptional, f.mapping.storage == .date {
                        w.line("\(key); w.value(\(f.property).map(RFC3339.formatDate))")
                    } else {
                        w.line("\(key); \(f.mapping.writeJSON(f.property))")
                    }
                }
                w.line("w.endObject()")
            }
        }
    }

    private static func bare(_ f: ResourceModel.FieldModel) -> String {
        f.property.replacingOccurrences(of: "`", with: "")
    }
}
