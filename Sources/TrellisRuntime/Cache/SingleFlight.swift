import Synchronization

/// Collapses concurrent loads of one key into one: the first caller runs the load, callers
/// that arrive while it runs wait for its value instead of running their own.
///
/// If the first caller's load fails, each waiter runs its own: an error (a timeout, a
/// cancelled request) belongs to the request that met it and is never handed to another.
/// A waiter waits at most as long as the leader's load, which the request deadline and the
/// pool-lease and statement timeouts bound.
final class SingleFlight<Value: Sendable>: Sendable {
    private let waiting = Mutex<[String: [CheckedContinuation<Value?, Never>]]>([:])

    /// How a call got its value.
    enum Role: Sendable, Equatable {
        /// It ran the load.
        case led
        /// It waited for another caller's load.
        case joined
    }

    /// `load()`'s value, or the value of the load of `key` already under way.
    func run(_ key: String, _ load: () async throws -> Value) async throws -> (Value, Role) {
        if claim(key) {
            do {
                let value = try await load()
                finish(key, with: value)
                return (value, .led)
            } catch {
                finish(key, with: nil)
                throw error
            }
        }
        let shared: Value? = await withCheckedContinuation { continuation in
            let registered = waiting.withLock { table -> Bool in
                guard table[key] != nil else { return false }
                table[key]!.append(continuation)
                return true
            }
            // The load finished between the claim and here: nothing to wait for.
            if !registered { continuation.resume(returning: nil) }
        }
        if let shared { return (shared, .joined) }
        return (try await load(), .led)
    }

    /// Starts `load` for `key` in the background unless a load of it is under way (a
    /// stale-while-revalidate refresh); returns at once.
    func refresh(_ key: String, _ load: @escaping @Sendable () async throws -> Value) {
        guard claim(key) else { return }
        Task {
            let value = try? await load()
            finish(key, with: value)
        }
    }

    /// Keys whose load is under way now.
    var inFlight: Int { waiting.withLock { $0.count } }

    /// True when the caller is the first for `key` and must load it.
    private func claim(_ key: String) -> Bool {
        waiting.withLock { table in
            guard table[key] == nil else { return false }
            table[key] = []
            return true
        }
    }

    private func finish(_ key: String, with value: Value?) {
        let waiters = waiting.withLock { $0.removeValue(forKey: key) } ?? []
        for waiter in waiters { waiter.resume(returning: value) }
    }
}
