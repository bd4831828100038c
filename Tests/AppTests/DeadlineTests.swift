import NIOConcurrencyHelpers
import Testing
@testable import TrellisRuntime

/// What a bound throws in these tests, so that each expectation names its origin.
private struct Expired: Error, Equatable {
    let what: String
}

/// Waits until cancelled, and throws then, as a pool lease or a query does; at most `limit`
/// (so that a test that fails cannot hang the run).
private func waitUntilCancelled(limit: Duration = .seconds(20)) async throws {
    try await Task.sleep(for: limit)
}

@Suite("Deadlines: a request's deadline and the waits bounded inside it")
struct DeadlineTests {
    @Test func anInnerBoundInTheRequestsTaskEndsTheRequestAndALaterBoundFailsAtOnce() async throws {
        let outcome = try await withDeadline(.seconds(30), boundsInside: true, onTimeout: { Expired(what: "request") }) { _ in
            // The first wait runs out: its own problem, not a cancellation or the request's.
            await #expect(throws: Expired(what: "lease")) {
                try await withInnerBound(.milliseconds(100), onTimeout: { Expired(what: "lease") }) { _ in
                    try await waitUntilCancelled()
                }
            }
            // The bound cancelled the request's own task (a deadline of its own would not have).
            let cancelled = Task.isCancelled
            let started = ContinuousClock.now
            // A later bounded wait in the same request throws the same problem without waiting.
            await #expect(throws: Expired(what: "lease")) {
                try await withInnerBound(.seconds(10), onTimeout: { Expired(what: "another lease") }) { _ in
                    try await waitUntilCancelled()
                }
            }
            return (cancelled, ContinuousClock.now - started)
        }
        #expect(outcome.0, "the request's task was not cancelled")
        #expect(outcome.1 < .seconds(5), "the second wait took \(outcome.1)")
    }

    @Test func aSettledInnerBoundNeverFiresAndTheRequestGoesOn() async throws {
        let value = try await withDeadline(.seconds(30), boundsInside: true, onTimeout: { Expired(what: "request") }) { _ in
            try await withInnerBound(.milliseconds(50), onTimeout: { Expired(what: "lease") }) { settle in
                settle()
                try await Task.sleep(for: .milliseconds(300))
                return Task.isCancelled ? "cancelled" : "done"
            }
        }
        #expect(value == "done")
    }

    @Test func anInnerBoundInAChildTaskIsADeadlineOfItsOwnAndLeavesTheRequestRunning() async throws {
        let value = try await withDeadline(.seconds(30), boundsInside: true, onTimeout: { Expired(what: "request") }) { _ in
            let child: Bool = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    do {
                        try await withInnerBound(.milliseconds(100), onTimeout: { Expired(what: "lease") }) { _ in
                            try await waitUntilCancelled()
                        }
                        return false
                    } catch {
                        return (error as? Expired) == Expired(what: "lease")
                    }
                }
                return await group.next() ?? false
            }
            return (child, Task.isCancelled)
        }
        #expect(value.0, "the child's wait did not end with its own problem")
        #expect(!value.1, "a child's bound cancelled the request")
    }

    @Test func withoutAnEnclosingDeadlineAnInnerBoundIsADeadlineOfItsOwn() async throws {
        let started = ContinuousClock.now
        await #expect(throws: Expired(what: "lease")) {
            try await withInnerBound(.milliseconds(100), onTimeout: { Expired(what: "lease") }) { _ in
                try await waitUntilCancelled()
            }
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(!Task.isCancelled)
    }

    @Test func aDeadlineThatDoesNotAllowInnerBoundsKeepsThemOutOfItsTask() async throws {
        let value = try await withDeadline(.seconds(30), onTimeout: { Expired(what: "job") }) { _ in
            await #expect(throws: Expired(what: "lease")) {
                try await withInnerBound(.milliseconds(100), onTimeout: { Expired(what: "lease") }) { _ in
                    try await waitUntilCancelled()
                }
            }
            return Task.isCancelled
        }
        #expect(!value, "a bound inside a job's deadline cancelled the job")
    }

    @Test func theRequestsOwnDeadlineStillFiresWithItsOwnProblem() async throws {
        await #expect(throws: Expired(what: "request")) {
            try await withDeadline(.milliseconds(100), boundsInside: true, onTimeout: { Expired(what: "request") }) { _ in
                try await withInnerBound(.seconds(30), onTimeout: { Expired(what: "lease") }) { _ in
                    try await waitUntilCancelled()
                }
            }
        }
    }
}
