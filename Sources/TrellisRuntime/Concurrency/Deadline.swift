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
/// succeeded: what follows has its own limits).
func withDeadline<T: Sendable>(
    _ timeout: Duration,
    onTimeout: @escaping @Sendable () -> any Error,
    _ operation: (_ settle: @Sendable () -> Void) async throws -> T
) async throws -> T {
    try await withoutActuallyEscaping(operation) { operation in
        // The child task finishes before this function returns, so the non-escaping,
        // non-Sendable closure never outlives its caller; callers pass Sendable state only.
        let body = UncheckedSendable(operation)
        let timer = DeadlineTimer()
        @Sendable func run() async throws -> T {
            timer.arm(after: timeout)
            defer { timer.finish() }
            return try await body.value { timer.settle() }
        }
        // An `async let`, not a task group: its child task is allocated in this task's own
        // allocator, where a group's child is a heap allocation.
        async let result = run()
        do {
            return try await result
        } catch {
            // Whatever the cancelled operation threw (CancellationError, a cancelled
            // query), the caller learns that its time ran out.
            if timer.fired { throw onTimeout() }
            throw error
        }
    }
}

/// The timer of one ``withDeadline(_:onTimeout:_:)`` call: armed by the operation's task,
/// it cancels that task (and only that task) when it fires, unless the operation settled or
/// finished first.
///
/// It holds the operation's `UnsafeCurrentTask`, which is only valid while that task runs:
/// every use is under the lock, and the task clears it under the same lock (``finish()``)
/// before it returns, so a firing timer either cancels a running task or finds nothing.
private final class DeadlineTimer: NIOScheduledCallbackHandler, @unchecked Sendable {
    private enum State {
        case idle, armed, settled, fired, finished
    }

    private let lock = NIOLock()
    private var state = State.idle
    private var task: UnsafeCurrentTask?
    private var scheduled: NIOScheduledCallback?

    /// Called by the operation's own task, first thing.
    func arm(after timeout: Duration) {
        withUnsafeCurrentTask { current in
            lock.withLock {
                task = current
                state = .armed
            }
        }
        let timer = scheduleTimer(after: timeout, self)
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
}

/// Calls `handler` after `timeout` on an event loop (the caller's own when it runs on one):
/// the timer of every wait with a limit on the request path. A scheduled callback, not
/// `scheduleTask`: no promise, future or closures to allocate. Nil when the loop is shutting
/// down (the process is stopping), so nothing is scheduled.
func scheduleTimer(after timeout: Duration, _ handler: some NIOScheduledCallbackHandler & Sendable) -> NIOScheduledCallback? {
    try? MultiThreadedEventLoopGroup.singleton.any().scheduleCallback(in: .nanoseconds(timeout.nanosecondsClamped), handler: handler)
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
