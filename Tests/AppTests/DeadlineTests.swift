import Testing
@testable import TrellisRuntime

/// What a deadline throws in these tests, so that each expectation names its origin.
private struct Expired: Error, Equatable {
    let what: String
}

/// Waits until cancelled, and throws then, as a pool lease or a query does; at most `limit`
/// (so that a test that fails cannot hang the run).
private func waitUntilCancelled(limit: Duration = .seconds(20)) async throws {
    try await Task.sleep(for: limit)
}

@Suite("Deadlines: an event-loop timer cancels the operation, never its caller")
struct DeadlineTests {
    @Test func aDeadlineCancelsItsOperationAndThrowsItsOwnProblemNotTheCancellation() async throws {
        let started = ContinuousClock.now
        await #expect(throws: Expired(what: "request")) {
            try await withDeadline(.milliseconds(100), onTimeout: { Expired(what: "request") }) { _ in
                try await waitUntilCancelled()
            }
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        // The operation's task was cancelled, not the caller's.
        #expect(!Task.isCancelled)
    }

    @Test func aSettledDeadlineNeverFiresAndTheOperationGoesOn() async throws {
        let value = try await withDeadline(.milliseconds(50), onTimeout: { Expired(what: "lease") }) { settle in
            settle()
            try await Task.sleep(for: .milliseconds(300))
            return Task.isCancelled ? "cancelled" : "done"
        }
        #expect(value == "done")
    }

    @Test func anOperationThatEndsInTimeKeepsItsOwnErrorAndItsValue() async throws {
        await #expect(throws: Expired(what: "the operation's own")) {
            try await withDeadline(.seconds(30), onTimeout: { Expired(what: "request") }) { _ in
                throw Expired(what: "the operation's own")
            }
        }
        let value = try await withDeadline(.seconds(30), onTimeout: { Expired(what: "request") }) { _ in 42 }
        #expect(value == 42)
    }

    @Test func nestedDeadlinesEachThrowTheirOwnProblem() async throws {
        // The inner one (a lease bound inside a request) runs out first: its problem, and the
        // outer operation may go on.
        let outcome = try await withDeadline(.seconds(30), onTimeout: { Expired(what: "request") }) { _ in
            await #expect(throws: Expired(what: "lease")) {
                try await withDeadline(.milliseconds(100), onTimeout: { Expired(what: "lease") }) { _ in
                    try await waitUntilCancelled()
                }
            }
            return Task.isCancelled
        }
        #expect(!outcome, "the inner deadline cancelled the outer operation")
        // The outer one runs out first: its problem, not the inner's.
        await #expect(throws: Expired(what: "request")) {
            try await withDeadline(.milliseconds(100), onTimeout: { Expired(what: "request") }) { _ in
                try await withDeadline(.seconds(30), onTimeout: { Expired(what: "lease") }) { _ in
                    try await waitUntilCancelled()
                }
            }
        }
    }
}
