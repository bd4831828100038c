import NIOCore
import NIOPosix

/// An event loop as a Swift `TaskExecutor` (SE-0417): a request's task that prefers it runs
/// every step of its work, and every function it calls, on the loop that owns its socket.
///
/// Why: NIO's global-executor takeover runs each job with the loop as its *serial* executor,
/// so every call into a `nonisolated` (or `@concurrent`) async function counted as leaving
/// that executor and was enqueued again: a hop per call, and postgres-nio's row iterator
/// makes one such call per row (a quarter of a nested GraphQL query's CPU, measured in
/// Benchmarks/README.md). A job run on a task executor has the generic executor as its
/// executor, so those calls continue in place.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// One ``EventLoopTaskExecutor`` per loop of the process's event loop group, made once.
struct EventLoopTaskExecutors: Sendable {
    private let byLoop: [ObjectIdentifier: EventLoopTaskExecutor]

    init(group: any EventLoopGroup = NIOSingletons.posixEventLoopGroup) {
        var byLoop: [ObjectIdentifier: EventLoopTaskExecutor] = [:]
        for loop in group.makeIterator() { byLoop[ObjectIdentifier(loop)] = EventLoopTaskExecutor(loop) }
        self.byLoop = byLoop
    }

    /// `loop`'s executor (a new one for a loop outside the group, such as a test's).
    func executor(for loop: any EventLoop) -> EventLoopTaskExecutor {
        byLoop[ObjectIdentifier(loop)] ?? EventLoopTaskExecutor(loop)
    }
}
