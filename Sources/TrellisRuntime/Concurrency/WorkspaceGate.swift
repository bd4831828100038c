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

    /// A place in a workspace's queue. Granted by a release, or abandoned by a waiter that
    /// gave up; whichever comes second settles the place (abandoning a granted place passes
    /// it on).
    private final class Ticket: Sendable {
        enum Phase {
            case waiting(CheckedContinuation<Void, any Error>?)
            case granted
            case abandoned
        }

        let phase = NIOLockedValueBox(Phase.waiting(nil))

        /// Wakes a waiter that is still waiting with `error` (a timeout or a cancellation).
        func endWait(throwing error: any Error) {
            let continuation = phase.withLockedValue { phase -> CheckedContinuation<Void, any Error>? in
                guard case let .waiting(continuation) = phase else { return nil }
                phase = .waiting(nil)
                return continuation
            }
            continuation?.resume(throwing: error)
        }

        /// Gives the place to the waiter; false if it had already given up.
        func grant() -> Bool {
            let (granted, continuation) = phase.withLockedValue { phase -> (Bool, CheckedContinuation<Void, any Error>?) in
                guard case let .waiting(continuation) = phase else { return (false, nil) }
                phase = .granted
                return (true, continuation)
            }
            continuation?.resume()
            return granted
        }
    }

    /// Ends a ticket's wait when its limit passes (a scheduled callback: no promise, future
    /// or closure to allocate, as `scheduleTask` needs), with the problem of that limit.
    private struct TicketExpiry: NIOScheduledCallbackHandler, Sendable {
        enum Limit {
            /// The gate's own timeout (the lease timeout).
            case wait(Duration)
            /// The request's deadline, which came first.
            case request(RequestDeadline)
        }

        let ticket: Ticket
        let limit: Limit

        func handleScheduledCallback(eventLoop: some EventLoop) {
            switch limit {
            case let .wait(timeout): ticket.endWait(throwing: Problem.workspaceBusy(after: timeout))
            case let .request(deadline): ticket.endWait(throwing: deadline.problem)
            }
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

        /// Takes places for `workspace`'s first waiters while it may run more, counting
        /// each as running; the caller grants them outside the lock.
        mutating func admitWaiters(of workspace: UUID, limit: Int, soleLimit: Int, into admitted: inout [(UUID, Ticket)]) {
            while queues[workspace] != nil, admits(workspace, limit: limit, soleLimit: soleLimit) {
                let ticket = queues[workspace]!.removeFirst()
                if queues[workspace]!.isEmpty { queues[workspace] = nil }
                active[workspace, default: 0] += 1
                admitted.append((workspace, ticket))
            }
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
        if let ticket = try enter(workspace) {
            do {
                try await wait(for: ticket, timeout: timeout)
            } catch {
                abandon(ticket, of: workspace)
                throw error
            }
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

    /// Takes a place now (nil), or queues a ticket; a full queue is a 503.
    private func enter(_ workspace: UUID) throws -> Ticket? {
        try state.withLockedValue { state in
            let waiting = state.queues[workspace]?.count ?? 0
            if waiting == 0, state.admits(workspace, limit: limit, soleLimit: soleLimit) {
                state.active[workspace, default: 0] += 1
                return nil
            }
            guard waiting < maxWaiting else { throw Problem.workspaceBusy(after: nil) }
            let ticket = Ticket()
            state.queues[workspace, default: []].append(ticket)
            return ticket
        }
    }

    /// Waits until the ticket is granted. Cancellation, or `timeout` or the request's deadline
    /// passing first (a timer on an event loop, not a sleeping task), ends the wait with an
    /// error; the caller then abandons the ticket.
    private func wait(for ticket: Ticket, timeout: Duration?) async throws {
        let now = NIODeadline.now()
        var expiry = timeout.map { (at: now + .nanoseconds($0.nanosecondsClamped), limit: TicketExpiry.Limit.wait($0)) }
        if let request = RequestDeadline.current, expiry == nil || request.instant < expiry!.at {
            guard request.instant > now else { throw request.problem }
            expiry = (request.instant, .request(request))
        }
        let timer = NIOLockedValueBox<NIOScheduledCallback?>(nil)
        defer { timer.withLockedValue { $0?.cancel() } }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Result<Void, any Error>? = ticket.phase.withLockedValue { phase in
                    switch phase {
                    case .granted: return .success(())
                    case .abandoned: return .failure(CancellationError())
                    case .waiting:
                        if Task.isCancelled { return .failure(CancellationError()) }
                        phase = .waiting(continuation)
                        return nil
                    }
                }
                if let resumeNow {
                    continuation.resume(with: resumeNow)
                } else if let expiry {
                    let scheduled = scheduleTimer(at: expiry.at, TicketExpiry(ticket: ticket, limit: expiry.limit))
                    timer.withLockedValue { $0 = scheduled }
                }
            }
        } onCancel: {
            ticket.endWait(throwing: CancellationError())
        }
    }

    /// A waiter gave up: drop its ticket, or, if the place was granted meanwhile, pass it on.
    private func abandon(_ ticket: Ticket, of workspace: UUID) {
        let wasGranted = ticket.phase.withLockedValue { phase -> Bool in
            if case .granted = phase { return true }
            phase = .abandoned
            return false
        }
        if wasGranted {
            release(workspace)
        } else {
            state.withLockedValue { state in
                guard var queue = state.queues.removeValue(forKey: workspace) else { return }
                queue.removeAll { $0 === ticket }
                if !queue.isEmpty { state.queues[workspace] = queue }
            }
        }
    }

    /// Releases a place and starts the waiters that may run now: the workspace's own, and,
    /// when one workspace is left with operations, that one's up to ``soleLimit``.
    private func release(_ workspace: UUID) {
        var admitted: [(UUID, Ticket)] = []
        state.withLockedValue { state in
            let running = (state.active[workspace] ?? 1) - 1
            state.active[workspace] = running > 0 ? running : nil
            state.admitWaiters(of: workspace, limit: limit, soleLimit: soleLimit, into: &admitted)
            if state.active.count == 1, let sole = state.active.keys.first, sole != workspace {
                state.admitWaiters(of: sole, limit: limit, soleLimit: soleLimit, into: &admitted)
            }
        }
        // A waiter that had already given up hands its place straight back.
        for (workspace, ticket) in admitted where !ticket.grant() {
            release(workspace)
        }
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
