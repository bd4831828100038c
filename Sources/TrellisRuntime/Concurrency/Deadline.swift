import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The deadline of the `/v1` request this task serves (DESIGN.md §6, ``Timeouts/request``),
/// bound by ``RequestDeadlineMiddleware`` for the handler and all it awaits, its child tasks
/// included.
///
/// No task or timer enforces it on its own. Each wait on the request path ends itself at the
/// deadline with ``problem``: the workspace gate's queue, a pipelined read's answer (the
/// pipeline's watchdog), and a pooled connection's lease and everything run on it
/// (``withDeadline(_:thenAfterSettling:_:)``, which cancels the Postgres work). A child task
/// per request with a timer to cancel it cost 4–7% of a `get`'s CPU (Benchmarks/README.md).
/// Redis commands keep their own, shorter timeout (``RedisConfiguration/commandTimeout``).
public struct RequestDeadline: Sendable {
    /// When the request's time is up.
    public let instant: NIODeadline
    /// The request timeout it was set from, for the problem's words.
    public let timeout: Duration

    @TaskLocal public static var current: RequestDeadline?

    public init(timeout: Duration, from start: NIODeadline = .now()) {
        self.timeout = timeout
        instant = start + .nanoseconds(timeout.nanosecondsClamped)
    }

    /// What a wait that reaches the deadline throws: 503 with `Retry-After`.
    public var problem: Problem { .deadlineExceeded(timeout) }

    /// The deadline as a stage of ``withDeadline(_:thenAfterSettling:_:)``.
    var stage: DeadlineStage {
        DeadlineStage(at: instant) { [self] in problem }
    }
}

/// When an operation is given up, and what is thrown then.
struct DeadlineStage: Sendable {
    enum When: Sendable {
        /// A point in time (a request's deadline).
        case at(NIODeadline)
        /// A span counted from when the operation starts (a lease timeout): a child task
        /// that starts late on a loaded machine still gets all of it.
        case after(Duration)
    }

    var when: When
    var error: @Sendable () -> any Error

    init(at deadline: NIODeadline, _ error: @escaping @Sendable () -> any Error) {
        when = .at(deadline)
        self.error = error
    }

    init(after timeout: Duration, _ error: @escaping @Sendable () -> any Error) {
        when = .after(timeout)
        self.error = error
    }

    /// The point in time, for an operation starting `now`.
    func deadline(from now: NIODeadline) -> NIODeadline {
        switch when {
        case let .at(deadline): deadline
        case let .after(timeout): now + .nanoseconds(timeout.nanosecondsClamped)
        }
    }

    /// The stage that comes first of `self` and `other`, for an operation starting about now.
    func earlier(_ other: DeadlineStage?) -> DeadlineStage {
        guard let other else { return self }
        let now = NIODeadline.now()
        return other.deadline(from: now) < deadline(from: now) ? other : self
    }
}

/// Runs `operation` and gives up after `timeout`: the operation's task is cancelled and
/// `onTimeout()` is thrown. See ``withDeadline(_:thenAfterSettling:_:)``.
func withDeadline<T: Sendable>(
    _ timeout: Duration,
    onTimeout: @escaping @Sendable () -> any Error,
    _ operation: (_ settle: @Sendable () -> Void) async throws -> T
) async throws -> T {
    try await withDeadline(DeadlineStage(after: timeout, onTimeout), thenAfterSettling: nil, operation)
}

/// Runs `operation` and gives up at `first`: the operation's task is cancelled and
/// `first.error()` is thrown. The operation runs in a child task so that it can be cancelled
/// wherever it waits (a pool lease, a socket read) while the caller is not; the caller waits
/// for it to wind down.
///
/// `settle` lets an operation say the first deadline no longer applies (a pool lease that
/// succeeded): from then on `later` applies (the request's deadline over the work on the
/// leased connection), or none.
///
/// The clock is a timer on an event loop (the caller's own when it runs on one), not a
/// sleeping task: `Task.sleep` goes through Dispatch's timer thread, which cost more CPU
/// per request than the request itself did on the hot path.
func withDeadline<T: Sendable>(
    _ first: DeadlineStage,
    thenAfterSettling later: DeadlineStage?,
    _ operation: (_ settle: @Sendable () -> Void) async throws -> T
) async throws -> T {
    try await withoutActuallyEscaping(operation) { operation in
        // The child task finishes before this function returns, so the non-escaping,
        // non-Sendable closure never outlives its caller; callers pass Sendable state only.
        let body = UncheckedSendable(operation)
        let timer = DeadlineTimer(later: later)
        @Sendable func run() async throws -> T {
            timer.arm(first)
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
            if let expired = timer.expired { throw expired() }
            throw error
        }
    }
}

/// The timer of one ``withDeadline(_:thenAfterSettling:_:)`` call: armed by the operation's
/// task, it cancels that task (and only that task) when it fires, unless the operation
/// settled (with no later stage) or finished first.
///
/// It holds the operation's `UnsafeCurrentTask`, which is only valid while that task runs:
/// every use is under the lock, and the task clears it under the same lock (``finish()``)
/// before it returns, so a firing timer either cancels a running task or finds nothing.
private final class DeadlineTimer: @unchecked Sendable {
    private enum State {
        case idle, armed, settled, fired, finished
    }

    /// One scheduling of the timer; a callback of an earlier one (cancelled too late, as it
    /// was already running) finds its generation stale and does nothing.
    private struct Expiry: NIOScheduledCallbackHandler, Sendable {
        let timer: DeadlineTimer
        let generation: Int

        func handleScheduledCallback(eventLoop: some EventLoop) {
            timer.fire(generation)
        }
    }

    private let lock = NIOLock()
    private var state = State.idle
    private var task: UnsafeCurrentTask?
    private var scheduled: NIOScheduledCallback?
    private var generation = 0
    private var stage: DeadlineStage?
    private var later: DeadlineStage?
    private var firedError: (@Sendable () -> any Error)?

    init(later: DeadlineStage?) {
        self.later = later
    }

    /// Called by the operation's own task, first thing.
    func arm(_ first: DeadlineStage) {
        withUnsafeCurrentTask { current in
            lock.withLock {
                task = current
                state = .armed
                stage = first
            }
        }
        let timer = scheduleTimer(at: first.deadline(from: .now()), Expiry(timer: self, generation: 0))
        lock.withLock { scheduled = timer }
    }

    /// The first deadline no longer applies; the later one does, if there is one.
    func settle() {
        let (old, next, current): (NIOScheduledCallback?, DeadlineStage?, Int) = lock.withLock {
            guard state == .armed else { return (nil, nil, 0) }
            let old = scheduled
            scheduled = nil
            generation += 1
            guard let later else {
                state = .settled
                task = nil
                return (old, nil, generation)
            }
            stage = later
            self.later = nil
            return (old, later, generation)
        }
        old?.cancel()
        guard let next else { return }
        let timer = scheduleTimer(at: next.deadline(from: .now()), Expiry(timer: self, generation: current))
        lock.withLock { scheduled = timer }
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

    /// What the caller throws when the timer fired: the error of the stage it fired in.
    var expired: (@Sendable () -> any Error)? { lock.withLock { firedError } }

    fileprivate func fire(_ generation: Int) {
        lock.withLock {
            guard state == .armed, generation == self.generation, let task else { return }
            state = .fired
            firedError = stage?.error
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

/// Calls `handler` at `deadline`; see ``scheduleTimer(after:_:)``.
func scheduleTimer(at deadline: NIODeadline, _ handler: some NIOScheduledCallbackHandler & Sendable) -> NIOScheduledCallback? {
    try? MultiThreadedEventLoopGroup.singleton.any().scheduleCallback(at: deadline, handler: handler)
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
