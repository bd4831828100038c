import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One workspace cannot hold the whole pool (DESIGN.md §6): each workspace may run at most
/// ``limit`` database operations at once on this instance; the rest wait here, in order,
/// *before* they lease a connection, so other workspaces' requests still find free ones.
/// At most ``maxWaiting`` wait per workspace; one more is a 503 at once, and a wait longer
/// than the lease timeout is a 503 too.
///
/// The gate is work-conserving: while a workspace is the only one with operations on this
/// instance it may run up to ``soleLimit`` at once (the server sets the pool size less one
/// workspace's ``limit``, so a newcomer finds connections free). As soon as another
/// workspace has an operation, each is held to ``limit`` again: the first one's extra
/// operations finish with their statements and are not replaced. A lone busy tenant thus
/// keeps the pool busy (on the 2-core machine, `GET /v1/agents/{id}` from one workspace went
/// from 4,500 to 5,800 req/s and from 266 to 191 µs of server CPU per request with 16
/// connections instead of 4; Benchmarks/README.md, `request-path`).
public final class WorkspaceGate: Sendable {
    /// Operations of one workspace running at once while other workspaces have some too.
    public let limit: Int
    /// Operations of one workspace running at once while no other workspace has any.
    public let soleLimit: Int
    /// Operations of one workspace waiting at once.
    public let maxWaiting: Int

    /// A place in a workspace's queue. Every field is read and written under the gate's one
    /// lock, so a grant, a timeout and a cancellation settle it exactly once between them: a
    /// ticket leaves its queue in the same locked step that grants it or gives it up.
    private final class Ticket: @unchecked Sendable {
        enum Phase {
            /// In the queue; the continuation once its waiter has suspended.
            case waiting(UnsafeContinuation<Void, any Error>?)
            /// Out of the queue with a place counted as running.
            case granted
            /// Out of the queue, with why (a timeout, the request's deadline, a cancellation).
            case gaveUp(any Error)
        }

        let workspace: UUID
        var phase = Phase.waiting(nil)
        /// What reaching the wait's limit throws; set before the timer is.
        var expiry: (any Error)?

        init(workspace: UUID) {
            self.workspace = workspace
        }
    }

    /// Ends a ticket's wait when its limit passes (a scheduled callback: no promise, future
    /// or closure to allocate, as `scheduleTask` needs; two references, so the handler fits
    /// the existential's inline buffer).
    private struct TicketExpiry: NIOScheduledCallbackHandler, Sendable {
        let gate: WorkspaceGate
        let ticket: Ticket

        func handleScheduledCallback(eventLoop: some EventLoop) {
            gate.giveUp(ticket, because: nil)
        }
    }

    private struct State {
        var active: [UUID: Int] = [:]
        var queues: [UUID: CircularBuffer<Ticket>] = [:]

        /// Whether one more of `workspace`'s operations may start now.
        func admits(_ workspace: UUID, limit: Int, soleLimit: Int) -> Bool {
            let running = active[workspace] ?? 0
            if running < limit { return true }
            return running < soleLimit && active.count == 1
        }

        /// Grants places to `workspace`'s first waiters while it may run more, counting each
        /// as running; the caller resumes the suspended ones outside the lock.
        mutating func admitWaiters(of workspace: UUID, limit: Int, soleLimit: Int, into resumed: inout [UnsafeContinuation<Void, any Error>]) {
            while queues[workspace] != nil, admits(workspace, limit: limit, soleLimit: soleLimit) {
                let ticket = queues[workspace]!.removeFirst()
                if queues[workspace]!.isEmpty { queues[workspace] = nil }
                active[workspace, default: 0] += 1
                if case let .waiting(continuation) = ticket.phase, let continuation { resumed.append(continuation) }
                ticket.phase = .granted
            }
        }

        /// Takes a waiting ticket out of its queue, settled with `reason`.
        mutating func giveUp(_ ticket: Ticket, because reason: any Error) {
            if var queue = queues.removeValue(forKey: ticket.workspace) {
                queue.removeAll { $0 === ticket }
                if !queue.isEmpty { queues[ticket.workspace] = queue }
            }
            ticket.phase = .gaveUp(reason)
        }
    }

    private let state = NIOLockedValueBox(State())

    /// `soleLimit` defaults to `limit` (no borrowing); it is never below `limit`.
    public init(limit: Int, soleLimit: Int? = nil, maxWaiting: Int = 256) {
        self.limit = max(1, limit)
        self.soleLimit = max(self.limit, soleLimit ?? limit)
        self.maxWaiting = max(0, maxWaiting)
    }

    /// Runs `body` holding one of `workspace`'s places, waiting at most `timeout` for one.
    public func run<T: Sendable>(_ workspace: UUID, timeout: Duration?, _ body: () async throws -> T) async throws -> T {
        let request = RequestDeadline.current
        if let ticket = try enter(workspace, within: request) {
            try await wait(for: ticket, timeout: timeout, within: request)
        }
        defer { release(workspace) }
        return try await body()
    }

    /// How many of `workspace`'s operations run now.
    public func active(_ workspace: UUID) -> Int {
        state.withLockedValue { $0.active[workspace] ?? 0 }
    }

    /// How many of `workspace`'s operations wait for a place now.
    public func waiting(_ workspace: UUID) -> Int {
        state.withLockedValue { $0.queues[workspace]?.count ?? 0 }
    }

    /// Takes a place now (nil), or queues a ticket; a full queue is a 503, and so is a request
    /// whose deadline has passed (it is never queued, so no place can be granted to it).
    private func enter(_ workspace: UUID, within request: RequestDeadline?) throws -> Ticket? {
        try state.withLockedValue { state in
            let waiting = state.queues[workspace]?.count ?? 0
            if waiting == 0, state.admits(workspace, limit: limit, soleLimit: soleLimit) {
                state.active[workspace, default: 0] += 1
                return nil
            }
            if let request, request.instant <= .now() { throw request.problem }
            guard waiting < maxWaiting else { throw Problem.workspaceBusy(after: nil) }
            let ticket = Ticket(workspace: workspace)
            state.queues[workspace, default: []].append(ticket)
            return ticket
        }
    }

    /// Waits until the ticket is granted. Cancellation, or `timeout` or the request's deadline
    /// passing first (a timer on an event loop, not a sleeping task), gives the place up and
    /// ends the wait with an error.
    private func wait(for ticket: Ticket, timeout: Duration?, within request: RequestDeadline?) async throws {
        let now = NIODeadline.now()
        var expiry = timeout.map { (at: now + .nanoseconds($0.nanosecondsClamped), problem: Problem.workspaceBusy(after: $0)) }
        if let request, expiry == nil || request.instant < expiry!.at {
            // Passed already (since `enter` checked): the timer fires at once.
            expiry = (request.instant, request.problem)
        }
        var timer: NIOScheduledCallback?
        defer { timer?.cancel() }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let resumeNow: Result<Void, any Error>? = state.withLockedValue { state in
                    switch ticket.phase {
                    case .granted: return .success(())
                    case let .gaveUp(error): return .failure(error)
                    case .waiting:
                        if Task.isCancelled {
                            state.giveUp(ticket, because: CancellationError())
                            return .failure(CancellationError())
                        }
                        ticket.phase = .waiting(continuation)
                        ticket.expiry = expiry?.problem
                        return nil
                    }
                }
                if let resumeNow {
                    continuation.resume(with: resumeNow)
                } else if let expiry {
                    timer = scheduleTimer(at: expiry.at, TicketExpiry(gate: self, ticket: ticket))
                }
            }
        } onCancel: {
            giveUp(ticket, because: CancellationError())
        }
    }

    /// Ends a ticket's wait with `error` (nil: its expiry) unless it was granted or given up
    /// already: out of its queue, and its waiter, if suspended, resumed with the error.
    private func giveUp(_ ticket: Ticket, because error: (any Error)?) {
        let resume = state.withLockedValue { state -> (UnsafeContinuation<Void, any Error>?, any Error)? in
            guard case let .waiting(continuation) = ticket.phase else { return nil }
            let reason = error ?? ticket.expiry ?? CancellationError()
            state.giveUp(ticket, because: reason)
            return (continuation, reason)
        }
        if let (continuation, reason) = resume { continuation?.resume(throwing: reason) }
    }

    /// Releases a place and starts the waiters that may run now: the workspace's own, and,
    /// when one workspace is left with operations, that one's up to ``soleLimit``.
    private func release(_ workspace: UUID) {
        var resumed: [UnsafeContinuation<Void, any Error>] = []
        state.withLockedValue { state in
            let running = (state.active[workspace] ?? 1) - 1
            state.active[workspace] = running > 0 ? running : nil
            state.admitWaiters(of: workspace, limit: limit, soleLimit: soleLimit, into: &resumed)
            if state.active.count == 1, let sole = state.active.keys.first, sole != workspace {
                state.admitWaiters(of: sole, limit: limit, soleLimit: soleLimit, into: &resumed)
            }
        }
        for continuation in resumed { continuation.resume() }
    }
}

extension Problem {
    /// Too many of one workspace's requests are waiting for the database.
    static func workspaceBusy(after timeout: Duration?) -> Problem {
        .serviceUnavailable(
            timeout.map { "This workspace's requests did not get a database connection within \($0.spoken); try again shortly" }
                ?? "Too many of this workspace's requests are waiting for the database; try again shortly")
    }
}
