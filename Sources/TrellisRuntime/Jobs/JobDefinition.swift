import Foundation

/// A job's payload as the generator emits it from `schema/jobs.yaml`: validated like a
/// resource's create body, written back as the JSON the queue stores.
public protocol JobPayload: Sendable {
    /// The dotted job type, e.g. `agents.generate_summary`.
    static var jobType: String { get }
    /// Every problem of `json` at once, with paths into the payload (`/agent_id`).
    static func validate(_ json: JSONValue) -> Validated<Self>
    /// The payload with its defaults filled in, as stored with the job.
    func writeJSON(to w: inout JSONWriter)
}

/// How long a failed attempt waits before the next: `base * 2^(attempt-1)`, at most `cap`,
/// each wait drawn at random from its upper half (jitter), so that jobs failing together
/// do not all retry in the same second.
public struct JobBackoff: Sendable, Hashable {
    /// Seconds.
    public var base: Int
    /// Seconds.
    public var cap: Int

    public init(base: Int, cap: Int) {
        self.base = base
        self.cap = cap
    }

    /// The wait after attempt `attempt` (1-based) failed, in seconds.
    public func delay(afterAttempt attempt: Int, random: Double = Double.random(in: 0..<1)) -> Double {
        let exponent = min(max(attempt - 1, 0), 40)
        let full = min(Double(cap), Double(base) * pow(2, Double(exponent)))
        return full / 2 + full / 2 * random
    }
}

/// A job type the server knows: its options from `jobs.yaml` and its payload's validator.
public struct JobDefinition: Sendable {
    public let type: String
    public let description: String?
    public let queue: String
    public let priority: Int
    public let maxAttempts: Int
    public let backoff: JobBackoff
    /// Seconds one attempt may take.
    public let timeoutSeconds: Int
    /// Seconds during which enqueuing the same type and payload again returns the first job.
    public let uniqueForSeconds: Int?
    /// The payload's JSON with defaults filled in, or its problems.
    let normalize: @Sendable (JSONValue) -> Validated<String>

    public init<Payload: JobPayload>(
        _ payload: Payload.Type, description: String? = nil, queue: String, priority: Int, maxAttempts: Int,
        backoff: JobBackoff, timeoutSeconds: Int, uniqueForSeconds: Int?
    ) {
        type = Payload.jobType
        self.description = description
        self.queue = queue
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.timeoutSeconds = timeoutSeconds
        self.uniqueForSeconds = uniqueForSeconds
        normalize = { json in
            switch Payload.validate(json) {
            case let .valid(payload):
                var w = JSONWriter(capacity: 128)
                payload.writeJSON(to: &w)
                return .valid(w.string)
            case let .invalid(problems):
                return .invalid(problems)
            }
        }
    }
}
