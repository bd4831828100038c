import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import TrellisRuntime

/// What a running job knows and can do besides its payload: who it is, its attempt, its
/// workspace's data (under row-level security, with the scopes of whoever enqueued it, never
/// more), progress reports, and whether it was asked to stop.
public struct JobContext: Sendable {
    public let id: UUID
    public let type: String
    /// Nil for a platform job (a schedule's), which belongs to no workspace.
    public let workspaceID: UUID?
    /// 1 on the first run.
    public let attempt: Int
    public let maxAttempts: Int
    public let logger: Logger
    let scopes: [String]
    let worker: JobWorker
    let stop: JobStopSignal

    /// True once the job was cancelled through the API (or its attempt timed out, or its
    /// worker is stopping): stop soon, and throw.
    public var isStopRequested: Bool { stop.reason != nil }

    /// Throws `CancellationError` when ``isStopRequested``.
    public func checkStop() throws {
        if stop.reason != nil || Task.isCancelled { throw CancellationError() }
    }

    /// Records progress (0…1, clamped) and a short message, visible at `GET /v1/jobs/{id}`.
    /// Throws `CancellationError` if the job was asked to stop meanwhile.
    public func progress(_ fraction: Double, message: String? = nil) async throws {
        let stillWanted = try await worker.reportProgress(self, fraction: fraction, message: message)
        if stillWanted == false { stop.signal(.cancelled) }
        try checkStop()
    }

    /// Throws unless whoever enqueued the job held `scope`: a job never does more than its
    /// enqueuer could have done through the API.
    public func authorized(for scope: String) throws {
        guard ScopeSet(scopes).allows(scope) else {
            throw JobFailure("this job needs the '\(scope)' scope, which the credential that enqueued it does not hold")
        }
    }

    /// Runs `body` in one transaction in the job's workspace, acting as `job:<id>` with the
    /// enqueuer's scopes, on the same write path as a request (cache generations move and
    /// events are relayed after it commits). Platform jobs have no workspace and cannot use it.
    public func transaction<T: Sendable>(_ body: (TenantTransaction) async throws -> T) async throws -> T {
        guard let identity else { throw JobFailure("a platform job has no workspace to read") }
        return try await worker.services.transaction(as: identity, origin: origin, logger: logger, body)
    }

    /// The job as a caller: `job:<id>` in its workspace with its enqueuer's scopes.
    var identity: Identity? {
        workspaceID.map { Identity(workspaceID: $0, kind: .job, credentialID: id.lowercasedString, scopes: ScopeSet(scopes)) }
    }

    var origin: RequestOrigin { RequestOrigin(requestID: "job-" + id.lowercasedString, ip: nil, userAgent: nil) }
}

/// Why a running job must stop, set once by whoever notices first, until the attempt settles.
final class JobStopSignal: Sendable {
    enum Reason: Sendable, Equatable {
        /// Cancelled through the API.
        case cancelled
        /// Over its attempt's timeout.
        case timedOut
        /// Another worker holds it now (this worker's lease expired).
        case lost
        /// This worker is shutting down past its grace period.
        case shutdown
    }

    private struct State {
        var reason: Reason?
        /// The attempt has ended: later signals change nothing.
        var settled = false
        var onSignal: (@Sendable () -> Void)?
    }

    private let state = NIOLockedValueBox(State())
    /// When the attempt times out (``JobWorker``'s timeout sweep signals ``Reason/timedOut``).
    let deadline: ContinuousClock.Instant

    init(deadline: ContinuousClock.Instant) {
        self.deadline = deadline
    }

    var reason: Reason? { state.withLockedValue(\.reason) }

    func signal(_ reason: Reason) {
        let action: (@Sendable () -> Void)? = state.withLockedValue { state in
            guard state.reason == nil, !state.settled else { return nil }
            state.reason = reason
            defer { state.onSignal = nil }
            return state.onSignal
        }
        action?()
    }

    /// Runs `action` on the first signal (at once if it already came).
    func onSignal(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLockedValue { state -> Bool in
            if state.reason != nil { return true }
            state.onSignal = action
            return false
        }
        if now { action() }
    }

    /// Ends the attempt's window for signals; returns the reason if one came first.
    func settle() -> Reason? {
        state.withLockedValue { state in
            state.settled = true
            state.onSignal = nil
            return state.reason
        }
    }
}
