import TrellisContract
import TrellisSchema

/// The jobs of `jobs.yaml` in the GraphQL schema: the `Job` object (the REST job, camel-cased),
/// its states, a connection, and `job`, `jobs`, `enqueueJob`, `cancelJob` and `retryJob` over the
/// same service calls as `/v1/jobs` and `jobs.*` on JSON-RPC. Written only when the API has
/// job types.
struct GraphQLJobs {
    let jobs: [JobType]

    init(_ jobs: [JobType]) {
        self.jobs = jobs.sorted { $0.name < $1.name }
    }

    /// The `EventTopic` value of job progress.
    static let eventTopic = GraphQLNames.eventTopic(path: "jobs")

    /// The fields of `Job`, each with its description (nil: none): `GET /v1/jobs/{id}`'s
    /// members, camel-cased, without `object`.
    static let jobFields: [(field: String, description: String?)] = [
        ("id: ID!", "The job's UUID, the same as on REST."),
        ("workspaceId: ID", nil),
        ("type: String!", "The job type from `jobs.yaml`, such as `agents.generate_summary`."),
        ("queue: String!", nil),
        ("state: JobState!", nil),
        ("priority: Int!", "Lower runs first."),
        ("payload: JSON!", "The validated payload, with the REST (snake_case) names of the type's fields."),
        ("runAt: DateTime!", "When the job may run next (its delay, or its retry's backoff)."),
        ("attempts: Int!", "Attempts started so far."),
        ("maxAttempts: Int!", "After this many failed attempts the job is `dead`."),
        ("progress: Float!", "From 0 to 1, as the handler last reported it."),
        ("message: String", "The handler's last progress message."),
        ("result: JSON", "What the handler stored when it completed."),
        ("errors: [JobAttemptError!]!", "One entry per failed attempt, oldest first."),
        ("cancelRequested: Boolean!", "A cancel reached the job while it ran; it ends `cancelled`."),
        ("createdBy: String!", "The credential that enqueued it; the job runs with its scopes."),
        ("createdAt: DateTime!", nil),
        ("updatedAt: DateTime!", nil),
        ("attemptedAt: DateTime", "When the last attempt started."),
        ("finishedAt: DateTime", "When the job completed, was cancelled or went `dead`."),
    ]

    static let queryFields = [
        "  \"One job by its `id`; another workspace's is null. Needs `jobs:read`.\"",
        "  job(id: ID!): Job",
        "  \"The workspace's jobs, newest first; `state` and `type` narrow them (`state: dead` is the dead-letter queue). Needs `jobs:read`.\"",
        "  jobs(first: Int, after: String, state: JobState, type: String): JobConnection!",
    ]

    static let mutationFields = [
        "  \"Queues a job, as `POST /v1/jobs` does: the payload is validated like a resource body (every problem at once, at paths such as `/payload/agent_id`), and for a type `unique_for` a window the same payload within it returns the first job. Needs `jobs:write`; the job runs with this credential's scopes, never more.\"",
        "  enqueueJob(input: JobEnqueueInput!): Job!",
        "  \"Cancels a job that is still to run; a running job is asked to stop (`cancelRequested`). Needs `jobs:write`.\"",
        "  cancelJob(id: ID!): Job!",
        "  \"Runs a `dead` or `cancelled` job again now, with one more attempt if it had none left; its error history stays. Needs `jobs:write`.\"",
        "  retryJob(id: ID!): Job!",
    ]

    func writeTypes(into out: inout SDLWriter) {
        out.description("A job's state: `scheduled` waits for its `runAt`, `available` for a worker, `running` holds a lease, `retryable` waits out its backoff; `completed`, `cancelled` and `dead` (out of attempts, kept with its errors) are final.")
        out.line("enum JobState {")
        for state in ["scheduled", "available", "running", "retryable", "completed", "cancelled", "dead"] { out.line("  " + state) }
        out.line("}")
        out.blank()
        out.description("One failed attempt of a job.")
        out.line("type JobAttemptError {")
        out.line("  attempt: Int!")
        out.line("  at: DateTime!")
        out.line("  error: String!")
        out.line("}")
        out.blank()
        out.description("A job of a type from `jobs.yaml`, as `GET /v1/jobs/{id}` shows it.")
        out.line("type Job {")
        for (field, description) in Self.jobFields {
            out.description(description, indent: "  ")
            out.line("  " + field)
        }
        out.line("}")
        out.blank()
        out.line("type JobEdge {")
        out.line("  cursor: String!")
        out.line("  node: Job!")
        out.line("}")
        out.blank()
        out.line("type JobConnection {")
        out.line("  edges: [JobEdge!]!")
        out.line("  pageInfo: PageInfo!")
        out.line("}")
        out.blank()
        out.description("The input of `enqueueJob`: the body of `POST /v1/jobs`.")
        out.line("input JobEnqueueInput {")
        out.description("A job type of this API: " + jobs.map { "`\($0.name)`" }.joined(separator: ", ") + ".", indent: "  ")
        out.line("  type: String!")
        out.description("The type's payload fields, by their snake_case names (as on REST).", indent: "  ")
        out.line("  payload: JSON")
        out.description("From -1000 to 1000, lower runs first; the type's own when absent.", indent: "  ")
        out.line("  priority: Int")
        out.description("Run no earlier than this (at most 366 days ahead).", indent: "  ")
        out.line("  runAt: DateTime")
        out.line("}")
        out.blank()
    }
}
