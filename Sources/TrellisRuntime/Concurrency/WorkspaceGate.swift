import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One workspace cannot hold the whole pool (DESIGN.md §6): each workspace may run at most
/// ``limit`` database operations at once on this instance; the rest wait here, in order,
/// *before* they lease a connection, so other workspaces' requests still find free ones.
/// At most ``maxWaiting`` wait per workspace; one more is a 503 at once, and a wait longer
/// than the lease timeout is a 503 too.
public final class WorkspaceGate: Sendable {
    /// Operations of one workspace running at once.
    public let limit: Int
    /// Operations of one workspace waiting at once.
    public let maxWaiting: Int

    /// A place in a workspace's queue. Granted by ``leave(_:)``, or abandoned by a waiter
    /// that gave up; whichever comes second settles the place (abandoning a granted place
    /// passes it on).
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
    }

    private struct State {
        var active: [UUID: Int] = [:]
        var queues: [UUID: [Ticket]] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init(limit: Int, maxWaiting: Int = 256) {
        self.limit = max(1, limit)
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
        defer { leave(workspace) }
        return try await body()
    }

    /// How many of `workspace`'s operations run now.
    public func active(_ workspace: UUID) -> Int {
        state.withLockedValue { $0.active[workspace] ?? 0 }
    }

    /// Takes a place now (nil), or queues a ticket; a full queue is a 503.
    private func enter(_ workspace: UUID) throws -> Ticket? {
        try state.withLockedValue { state in
            let active = state.active[workspace] ?? 0
            let queue = state.queues[workspace] ?? []
            if active < limit, queue.isEmpty {
                state.active[workspace] = active + 1
                return nil
            }
            guard queue.count < maxWaiting else { throw Problem.workspaceBusy(after: nil) }
            let ticket = Ticket()
            state.queues[workspace, default: []].append(ticket)
            return ticket
        }
    }

    /// Waits until the ticket is granted. Cancellation, or `timeout` passing first (a timer
    /// on an event loop, not a sleeping task), ends the wait with an error; the caller then
    /// abandons the ticket.
    private func wait(for ticket: Ticket, timeout: Duration?) async throws {
        let timer = NIOLockedValueBox<Scheduled<Void>?>(nil)
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
                } else if let timeout {
                    let expiry = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(timeout.nanosecondsClamped)) {
                        ticket.endWait(throwing: Problem.workspaceBusy(after: timeout))
                    }
                    timer.withLockedValue { $0 = expiry }
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
            leave(workspace)
        } else {
            state.withLockedValue { state in
                state.queues[workspace]?.removeAll { $0 === ticket }
                if state.queues[workspace]?.isEmpty == true { state.queues[workspace] = nil }
            }
        }
    }

    /// Releases a place: the first live waiter gets it, or the workspace has one fewer.
    private func leave(_ workspace: UUID) {
        while true {
            let ticket = state.withLockedValue { state -> Ticket? in
                if var queue = state.queues[workspace], !queue.isEmpty {
                    let first = queue.removeFirst()
                    state.queues[workspace] = queue.isEmpty ? nil : queue
                    return first
                }
                let active = (state.active[workspace] ?? 1) - 1
                state.active[workspace] = active > 0 ? active : nil
                return nil
            }
            guard let ticket else { return }
            let continuation = ticket.phase.withLockedValue { phase -> (granted: Bool, CheckedContinuation<Void, any Error>?) in
                guard case let .waiting(continuation) = phase else { return (false, nil) }
                phase = .granted
                return (true, continuation)
            }
            if continuation.granted {
                continuation.1?.resume()
                return
            }
            // That waiter had already given up: offer the place to the next one.
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
