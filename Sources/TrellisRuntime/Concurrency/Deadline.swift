import NIOConcurrencyHelpers

/// Runs `operation` and gives up after `timeout`: the operation's task is cancelled and
/// `onTimeout()` is thrown. The operation runs in a child task so that it can be cancelled
/// wherever it waits (a pool lease, a socket read); the caller waits for it to wind down.
///
/// `isSettled` lets an operation say the deadline no longer applies (a pool lease that
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
        let settled = NIOLockedValueBox(false)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await body.value { settled.withLockedValue { $0 = true } }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                if settled.withLockedValue({ $0 }) { return nil }
                throw onTimeout()
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let value = next { return value }
            }
            throw CancellationError()
        }
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
