import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Runs `operation` and gives up after `timeout`: the operation's task is cancelled and
/// `onTimeout()` is thrown. The operation runs in a child task so that it can be cancelled
/// wherever it waits (a pool lease, a socket read) while the caller is not; the caller waits
/// for it to wind down.
///
/// The clock is a timer on an event loop (the caller's own when it runs on one), not a
/// sleeping task: `Task.sleep` goes through Dispatch's timer thread, which cost more CPU
/// per request than the request itself did on the hot path.
///
/// `settle` lets an operation say the deadline no longer applies (a pool lease that
/// succeeded: what follows has its own limits). With `boundsInside`, waits inside the
/// operation's own task may bound themselves on this deadline's task instead of starting
/// their own (``withInnerBound(_:onTimeout:_:)``).
func withDeadline<T: Sendable>(
    _ timeout: Duration,
    boundsInside: Bool = false,
    onTimeout: @escaping @Sendable () -> any Error,
    _ operation: (_ settle: @Sendable () -> Void) async throws -> T
) async throws -> T {
    try await withoutActuallyEscaping(operation) { operation in
        // The child task finishes before this function returns, so the non-escaping,
        // non-Sendable closure never outlives its caller; callers pass Sendable state only.
        let body = UncheckedSendable(operation)
        let timer = DeadlineTimer()
        return try await withThrowingTaskGroup(of: T.self) { group in
            // Started on this thread, at once: no enqueue and task switch before the
            // operation's first suspension.
            group.addImmediateTask {
                timer.arm(after: timeout)
                defer { timer.finish() }
                guard boundsInside else { return try await body.value { timer.settle() } }
                return try await DeadlineTimer.$enclosing.withValue(timer) { try await body.value { timer.settle() } }
            }
            do {
                guard let value = try await group.next() else { throw CancellationError() }
                return value
            } catch {
                // Whatever the cancelled operation threw (CancellationError, a cancelled
                // query), the caller learns that its time ran out.
                if timer.fired { throw onTimeout() }
                throw error
            }
        }
    }
}

/// ``withDeadline(_:boundsInside:onTimeout:_:)`` for a wait inside a request (a pool lease):
/// when it runs in the very task of an enclosing deadline that allows it (the request's),
/// the bound is one more timer on that task, with no task of its own. When it fires, it
/// cancels the enclosing operation (the request cannot go on without what it waited for)
/// and this call throws `onTimeout()`; a later bounded wait in the same operation then
/// throws at once instead of waiting again. Anywhere else it is a deadline of its own.
///
/// Why: a child task, its group and its timer were about a tenth of a cached-key `get`'s
/// own CPU, paid once for the request's deadline and once more for its pool lease.
func withInnerBound<T: Sendable>(
    _ timeout: Duration,
    onTimeout: @escaping @Sendable () -> any Error,
    _ operation: (_ settle: @Sendable () -> Void) async throws -> T
) async throws -> T {
    guard let enclosing = DeadlineTimer.enclosing, let bound = try enclosing.innerBound(after: timeout, onTimeout: onTimeout) else {
        return try await withDeadline(timeout, onTimeout: onTimeout, operation)
    }
    defer { bound.finish() }
    do {
        return try await operation { bound.finish() }
    } catch {
        if bound.fired { throw onTimeout() }
        throw error
    }
}

/// The timer of one ``withDeadline(_:boundsInside:onTimeout:_:)`` call: armed by the
/// operation's task, it cancels that task (and only that task) when it fires, unless the
/// operation settled or finished first.
///
/// It holds the operation's `UnsafeCurrentTask`, which is only valid while that task runs:
/// every use is under the lock, and the task clears it under the same lock (``finish()``)
/// before it returns, so a firing timer, its own or an inner bound's, either cancels a
/// running task or finds nothing.
final class DeadlineTimer: NIOScheduledCallbackHandler, @unchecked Sendable {
    private enum State {
        case idle, armed, settled, fired, finished
    }

    /// The deadline whose operation the current task runs, when it lets inner waits bound
    /// themselves on it.
    @TaskLocal static var enclosing: DeadlineTimer?

    private let lock = NIOLock()
    private var state = State.idle
    private var task: UnsafeCurrentTask?
    private var scheduled: NIOScheduledCallback?
    /// The problem of the inner bound that fired, if one did: later bounded waits throw it.
    private var innerTimeout: (@Sendable () -> any Error)?

    /// Called by the operation's own task, first thing.
    func arm(after timeout: Duration) {
        withUnsafeCurrentTask { current in
            lock.withLock {
                task = current
                state = .armed
            }
        }
        // A loop that is shutting down schedules nothing: the process is stopping.
        let timer = try? MultiThreadedEventLoopGroup.singleton.any().scheduleCallback(
            in: .nanoseconds(timeout.nanosecondsClamped), handler: self)
        lock.withLock { scheduled = timer }
    }

    /// The deadline no longer applies; the operation goes on.
    func settle() {
        let timer: NIOScheduledCallback? = lock.withLock {
            guard state == .armed else { return nil }
            state = .settled
            task = nil
            return scheduled
        }
        timer?.cancel()
    }

    /// Called by the operation's task as it ends: the task may not be touched after this.
    func finish() {
        let timer: NIOScheduledCallback? = lock.withLock {
            if state != .fired { state = .finished }
            task = nil
            return scheduled
        }
        timer?.cancel()
    }

    var fired: Bool { lock.withLock { state == .fired } }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        lock.withLock {
            guard state == .armed, let task else { return }
            state = .fired
            // Under the lock: the task cannot finish (and be freed) before this returns.
            task.cancel()
            self.task = nil
        }
    }

    /// A bound of `timeout` on this deadline's task, for a wait the current task is about to
    /// make; nil when the current task is not this deadline's operation (a child or a detached
    /// task inherits the task-local, not the right to cancel the request), or the deadline no
    /// longer watches it. Throws the first fired bound's problem if one already fired.
    fileprivate func innerBound(after timeout: Duration, onTimeout: @escaping @Sendable () -> any Error) throws -> InnerBound? {
        let watching: Bool = try withUnsafeCurrentTask { current in
            try lock.withLock {
                guard state == .armed, current != nil, current == task else { return false }
                if let innerTimeout { throw innerTimeout() }
                return true
            }
        }
        guard watching else { return nil }
        let bound = InnerBound(self, onTimeout: onTimeout)
        let timer = try? MultiThreadedEventLoopGroup.singleton.any().scheduleCallback(
            in: .nanoseconds(timeout.nanosecondsClamped), handler: bound)
        lock.withLock { bound.scheduled = timer }
        return bound
    }

    /// An inner bound fired: cancel the operation, if it still runs, and remember why.
    fileprivate func boundFired(_ bound: InnerBound) -> Bool {
        lock.withLock {
            guard !bound.isOver, let task else { return false }
            bound.isOver = true
            bound.didFire = true
            innerTimeout = bound.onTimeout
            task.cancel()
            return true
        }
    }

    /// An inner bound's wait ended (its lease came, or it gave up) before it fired.
    fileprivate func boundFinished(_ bound: InnerBound) -> NIOScheduledCallback? {
        lock.withLock {
            bound.isOver = true
            return bound.scheduled
        }
    }

    fileprivate func boundDidFire(_ bound: InnerBound) -> Bool {
        lock.withLock { bound.didFire }
    }
}

/// One ``withInnerBound(_:onTimeout:_:)`` wait on an enclosing ``DeadlineTimer``; its
/// state is guarded by the enclosing timer's lock.
private final class InnerBound: NIOScheduledCallbackHandler, @unchecked Sendable {
    let deadline: DeadlineTimer
    let onTimeout: @Sendable () -> any Error
    var scheduled: NIOScheduledCallback?
    var isOver = false
    var didFire = false

    init(_ deadline: DeadlineTimer, onTimeout: @escaping @Sendable () -> any Error) {
        self.deadline = deadline
        self.onTimeout = onTimeout
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        _ = deadline.boundFired(self)
    }

    /// The wait is over; cancel the timer if it has not fired.
    func finish() {
        deadline.boundFinished(self)?.cancel()
    }

    var fired: Bool { deadline.boundDidFire(self) }
}

extension Duration {
    /// Whole nanoseconds, clamped to what `TimeAmount` holds.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        guard seconds < Int64.max / 1_000_000_000 - 1 else { return Int64.max }
        return max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Carries a value the compiler cannot prove `Sendable` into a child task that the
/// caller awaits; see ``withDeadline(_:onTimeout:_:)``.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}
