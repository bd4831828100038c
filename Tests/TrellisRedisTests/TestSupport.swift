import Foundation
import Logging
import Testing

@testable import TrellisRedis
import TrellisTestSupport

let quietLogger = Logger(label: "trellis.tests.redis", factory: { _ in SwiftLogNoOpLogHandler() })

/// A key prefix no other test uses, so tests can share one server and run in parallel.
func uniquePrefix(_ test: String = #function) -> String {
    "trellis:test:\(test.prefix { $0 != "(" }):\(UUID().uuidString):"
}



/// The next event of `events`, or a thrown ``TimedOut`` after `limit`.
func nextEvent(_ events: RedisPubSubEvents, within limit: Duration = .seconds(10)) async throws -> RedisPubSubEvent {
    try await withThrowingTaskGroup(of: RedisPubSubEvent?.self) { group in
        group.addTask {
            var iterator = events.makeAsyncIterator()
            return await iterator.next()
        }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut(what: "a pub/sub event")
        }
        defer { group.cancelAll() }
        guard let event = try await group.next()! else { throw TimedOut(what: "a pub/sub event (the stream ended)") }
        return event
    }
}

/// Runs `body` with a ``RedisSubscriber`` running beside it.
func withSubscriber<Result: Sendable>(
    _ configuration: RedisConfiguration,
    _ body: (RedisSubscriber) async throws -> Result
) async throws -> Result {
    let subscriber = RedisSubscriber(configuration: configuration, logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
        group.addTask { try await subscriber.run() }
        defer { group.cancelAll() }
        return try await body(subscriber)
    }
}

