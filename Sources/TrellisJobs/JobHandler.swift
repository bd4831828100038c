import Foundation
import TrellisRuntime

/// App code that runs one job type. `run` is called once per attempt, on a worker, with the
/// payload validated as the schema says; it may be called again for the same job (delivery is
/// at least once: a worker can die after the work and before recording it), so it should be
/// safe to repeat. A throw fails the attempt (retried with backoff, then dead); Swift
/// cancellation of the task means the job was cancelled, timed out, or its worker is
/// stopping: wind down and throw.
public protocol JobHandler: Sendable {
    associatedtype Payload: JobPayload
    /// The job's result, stored as JSON with the completed job; nil: none.
    func run(_ payload: Payload, context: JobContext) async throws -> JSONValue?
}

/// The handlers a worker runs, by job type.
public struct JobHandlers: Sendable {
    typealias Run = @Sendable (_ payload: JSONValue, _ context: JobContext) async throws -> JSONValue?
    private(set) var byType: [String: Run] = [:]

    public init() {}

    /// Runs `handler` for its payload's job type (a later registration of the type replaces it).
    public mutating func register<Handler: JobHandler>(_ handler: Handler) {
        byType[Handler.Payload.jobType] = { json, context in
            switch Handler.Payload.validate(json) {
            case let .valid(payload):
                return try await handler.run(payload, context: context)
            case let .invalid(problems):
                // The payload was valid when enqueued: the schema changed since.
                throw JobFailure("the stored payload no longer matches the schema: "
                    + problems.map { "\($0.path) \($0.message)" }.joined(separator: "; "))
            }
        }
    }
}

/// A failure a handler reports in words (the words are stored with the job and shown by the
/// API, so they must not hold secrets).
public struct JobFailure: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// When to try again, instead of the job type's backoff.
    public var retryAfter: Duration?

    public init(_ description: String, retryAfter: Duration? = nil) {
        self.description = description
        self.retryAfter = retryAfter
    }
}

/// Thrown by a handler that cannot do its work yet and should be tried again after `delay`
/// without spending an attempt (a webhook whose endpoint's circuit is open). The job waits as
/// `scheduled`; a cancel asked meanwhile ends it.
public struct JobSnooze: Error, Sendable {
    public var delay: Duration

    public init(_ delay: Duration) {
        self.delay = delay
    }
}
