import NIOConcurrencyHelpers
import NIOCore

/// Where commands wait while a client's first connection attempt is still under way, so that a
/// command sent the instant the service starts is not refused. Once the first attempt has ended
/// (either way) the gate is open for good, and commands never wait again: when Redis is down
/// later they fail at once.
final class StartupGate: Sendable {
    private struct State {
        var isOpen = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    var isOpen: Bool { state.withLockedValue(\.isOpen) }

    /// Opens the gate and releases every waiter.
    func open() {
        let waiters = state.withLockedValue { state in
            state.isOpen = true
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the gate opens, after `timeout`, or when the task is cancelled, whichever is
    /// first. The caller then looks for a connection again.
    func wait(timeout: Duration, on eventLoop: any EventLoop) async {
        let id = state.withLockedValue { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        var timer: Scheduled<Void>?
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let waiting = state.withLockedValue { state in
                    guard !state.isOpen, !Task.isCancelled else { return false }
                    state.waiters[id] = continuation
                    return true
                }
                guard waiting else { return continuation.resume() }
                timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) { self.release(id) }
            }
        } onCancel: {
            self.release(id)
        }
        timer?.cancel()
    }

    private func release(_ id: Int) {
        state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.resume()
    }
}
