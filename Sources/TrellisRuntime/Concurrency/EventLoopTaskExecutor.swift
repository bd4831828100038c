import NIOCore

/// Runs a task's jobs on one NIO event loop. A connection's handler prefers its channel's
/// loop (``TimedHTTP1Channel``), so reading a request, running the handler and writing the
/// response happen on the thread that owns the socket, instead of hopping to Swift's
/// cooperative pool and back for every part of every request.
///
/// A preference, not an isolation: work that awaits an actor still runs on that actor, and
/// child tasks inherit the preference. Handlers must not block (they must not on the
/// cooperative pool either): a blocking call stalls the other connections of that loop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
