import OpenAPIKit

extension OpenAPIGenerator.KeyManagementPaths {
    /// The `Job` object, the body of `POST /v1/jobs` and the list filters, for `/v1/jobs`.
    enum JobSchemas {
        static let states = ["scheduled", "available", "running", "retryable", "completed", "cancelled", "dead"]

        static var listParameters: OpenAPI.Parameter.Array {
            [
                .parameter(.query(name: "state", required: false, schema: .string(allowedValues: states.map { AnyCodable($0) }),
                                  description: "Only jobs in this state (`dead`: the dead-letter queue).")),
                .parameter(.query(name: "type", required: false, schema: .string(examples: [AnyCodable("agents.generate_summary")]),
                                  description: "Only jobs of this type.")),
            ]
        }

        static let enqueueExample: [String: AnyCodable] = [
            "type": AnyCodable("agents.generate_summary"),
            "payload": AnyCodable(["agent_id": AnyCodable(OpenAPIGenerator.JSONValues.exampleReferenceID)]),
        ]

        static let jobExample: [String: AnyCodable] = [
            "id": AnyCodable(OpenAPIGenerator.JSONValues.exampleID), "object": AnyCodable("job"),
            "workspace_id": AnyCodable(OpenAPIGenerator.JSONValues.exampleWorkspaceID), "type": AnyCodable("agents.generate_summary"),
            "queue": AnyCodable("default"), "state": AnyCodable("available"), "priority": AnyCodable(0),
            "payload": AnyCodable(["agent_id": AnyCodable(OpenAPIGenerator.JSONValues.exampleReferenceID)]),
            "run_at": AnyCodable(OpenAPIGenerator.JSONValues.exampleTimestamp), "attempts": AnyCodable(0), "max_attempts": AnyCodable(5),
            "progress": AnyCodable(0), "message": AnyCodable(nil as String?), "result": AnyCodable(nil as String?),
            "errors": AnyCodable([AnyCodable]()), "cancel_requested": AnyCodable(false),
            "created_by": AnyCodable("api_key:" + OpenAPIGenerator.JSONValues.exampleID), "created_at": AnyCodable(OpenAPIGenerator.JSONValues.exampleTimestamp),
            "updated_at": AnyCodable(OpenAPIGenerator.JSONValues.exampleTimestamp), "attempted_at": AnyCodable(nil as String?),
            "finished_at": AnyCodable(nil as String?),
        ]

        static let runExample: [String: AnyCodable] = [
            "id": AnyCodable(42), "tick": AnyCodable(OpenAPIGenerator.JSONValues.exampleTimestamp), "trigger": AnyCodable("cron"),
            "outcome": AnyCodable("fired"), "jobs": AnyCodable(12), "pending": AnyCodable(0), "completed": AnyCodable(12),
            "failed": AnyCodable(0), "fired_at": AnyCodable(OpenAPIGenerator.JSONValues.exampleTimestamp),
        ]

        static let scheduleExample: [String: AnyCodable] = [
            "name": AnyCodable("messages.cleanup"), "object": AnyCodable("schedule"), "job": AnyCodable("messages.cleanup"),
            "cron": AnyCodable("0 3 * * *"), "time_zone": AnyCodable("UTC"), "overlap": AnyCodable("skip"),
            "next_run_at": AnyCodable(OpenAPIGenerator.JSONValues.exampleTimestamp), "runs": AnyCodable([AnyCodable(runExample)]),
        ]

        static func schemas(list: (String) -> JSONSchema) -> [(name: String, schema: JSONSchema)] {
            let timestamp = JSONSchema.string(format: .dateTime)
            let optionalTimestamp = JSONSchema.string(format: .dateTime, nullable: true)
            let job = JSONSchema.object(description: "A background job.", properties: [
                "id": .string(format: .uuid),
                "object": .string(allowedValues: [AnyCodable("job")]),
                "workspace_id": .string(format: .uuid),
                "type": .string(description: "The job type, from `jobs.yaml`."),
                "queue": .string(),
                "state": .string(allowedValues: states.map { AnyCodable($0) }),
                "priority": .integer(description: "Lower runs first."),
                "payload": .object(description: "The payload as validated, defaults filled in."),
                "run_at": .string(format: .dateTime, description: "When the job may run next (its delay, or its retry's backoff)."),
                "attempts": .integer(description: "Attempts started so far."),
                "max_attempts": .integer(),
                "progress": .number(description: "0 to 1, as the handler reported it.", maximum: (1, exclusive: false), minimum: (0, exclusive: false)),
                "message": .string(nullable: true, description: "The handler's last progress message."),
                "result": .object(nullable: true, description: "What the handler returned, once completed."),
                "errors": .array(description: "One entry per failed attempt.", items: .object(properties: [
                    "attempt": .integer, "at": timestamp, "error": .string,
                ])),
                "cancel_requested": .boolean(description: "A cancel reached the job while it ran; it ends `cancelled`."),
                "created_by": .string(description: "The credential that enqueued it; the job runs with its scopes."),
                "created_at": timestamp,
                "updated_at": timestamp,
                "attempted_at": optionalTimestamp,
                "finished_at": optionalTimestamp,
            ])
            let run = JSONSchema.object(description: "One recorded tick of a schedule.", properties: [
                "id": .integer,
                "tick": .string(format: .dateTime, description: "The cron time the run is for (a manual run: when it was asked for)."),
                "trigger": .string(allowedValues: [AnyCodable("cron"), AnyCodable("manual")]),
                "outcome": .string(description: "`skipped`: the schedule skips while its last run's jobs are still to run.",
                                   allowedValues: [AnyCodable("fired"), AnyCodable("skipped")]),
                "jobs": .integer(description: "Jobs enqueued: one per tenant workspace."),
                "pending": .integer(description: "Of those, still to run."),
                "completed": .integer,
                "failed": .integer(description: "Dead or cancelled."),
                "fired_at": timestamp,
            ])
            return [
                ("ScheduleRun", run),
                ("Schedule", .object(description: "A cron schedule of `jobs.yaml`.", properties: [
                    "name": .string, "object": .string(allowedValues: [AnyCodable("schedule")]),
                    "job": .string(description: "The job type it enqueues, once per tenant workspace."),
                    "cron": .string(description: "Five fields: minute hour day-of-month month day-of-week."),
                    "time_zone": .string(description: "The IANA zone the cron fields are read in."),
                    "overlap": .string(allowedValues: [AnyCodable("skip"), AnyCodable("queue")]),
                    "next_run_at": .string(format: .dateTime, nullable: true),
                    "runs": .array(description: "The last 10 runs, newest first.", items: OpenAPIGenerator.ResourceSchemas.ref("ScheduleRun")),
                ])),
                ("ScheduleList", list("Schedule")),
                ("Job", job),
                ("JobList", list("Job")),
                ("EnqueueJob", .object(properties: [
                    "type": .string(description: "A job type from `jobs.yaml`, e.g. `agents.generate_summary`."),
                    "payload": .object(required: false, description: "The type's payload fields (`{}` when absent)."),
                    "priority": .integer(required: false, description: "Lower runs first; the type's priority when absent.",
                                         maximum: (1000, exclusive: false), minimum: (-1000, exclusive: false)),
                    "run_at": .string(format: .dateTime, required: false, description: "Do not run before this time (at most 366 days ahead)."),
                ], additionalProperties: .a(false))),
            ]
        }
    }
}
