import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import Testing
@testable import TrellisRuntime

@Suite("One workspace cannot starve the others")
struct WorkspaceIsolationTests {
    /// What each task of the flood below reports.
    private enum Outcome: Sendable {
        case write(HTTPResponse.Status)
        case reads([(started: Duration, took: Duration, status: HTTPResponse.Status)])
    }

    @Test func aFloodOfAuditedWritesInOneWorkspaceLeavesAnotherWorkspacesReadsFast() async throws {
        let flooded = try await TestDatabase.shared.makeWorkspace()
        let floodKey = try await makeKey(workspace: flooded, scopes: ["*"]).token.text
        let writes = 200
        var limits = Timeouts()
        limits.request = .seconds(10)
        let timeouts = limits
        // The server's rule on a pool of 4: a workspace's share is 1, and alone it may use the
        // pool less one share, so the flood holds 3 connections until the reads arrive.
        try await withApp(timeouts: timeouts, gate: WorkspaceGate(limit: 1, soleLimit: 3), poolSize: 4) { client, _ in
            #expect(try await client.send(.get, "/v1/agents").status == .ok)
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(floodKey)).status == .ok)
            // The same reads without the flood, on this machine now (other suites run beside this one).
            var quiet: [Duration] = []
            for _ in 0..<30 {
                let t = ContinuousClock.now
                #expect(try await client.send(.get, "/v1/agents?limit=5").status == .ok)
                quiet.append(ContinuousClock.now - t)
            }
            let quietMedian = quiet.sorted()[quiet.count / 2]
            let answered = NIOLockedValueBox(0)  // writes that have their answer
            let floodOver = NIOLockedValueBox(false)  // every write has its answer
            let started = ContinuousClock.now
            var statuses: [HTTPResponse.Status] = []
            var reads: [(started: Duration, took: Duration, status: HTTPResponse.Status)] = []
            try await withThrowingTaskGroup(of: Outcome.self) { group in
                for i in 0..<writes {
                    group.addTask {
                        let res = try await client.send(.post, "/v1/tools", json: #"{"name":"flood \#(i)"}"#, as: .bearer(floodKey))
                        answered.withLockedValue { $0 += 1 }
                        return .write(res.status)
                    }
                }
                // The other workspace reads a page every few milliseconds for as long as the
                // flood lasts, from the moment the first write is answered: by then the writes
                // have been read and wait (at the gate, or for a connection), so a read is not
                // slowed by this process parsing 200 bodies at once, only by what the flood holds.
                group.addTask {
                    while answered.withLockedValue({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(1)) }
                    var reads: [(started: Duration, took: Duration, status: HTTPResponse.Status)] = []
                    repeat {
                        let t = ContinuousClock.now
                        let status = try await client.send(.get, "/v1/agents?limit=5").status
                        reads.append((t - started, ContinuousClock.now - t, status))
                        try await Task.sleep(for: .milliseconds(5))
                    } while !floodOver.withLockedValue({ $0 })
                    return .reads(reads)
                }
                for try await outcome in group {
                    switch outcome {
                    case let .write(status):
                        statuses.append(status)
                        if statuses.count == writes { floodOver.withLockedValue { $0 = true } }
                    case let .reads(done):
                        reads = done
                    }
                }
            }
            let elapsed = ContinuousClock.now - started
            #expect(statuses.count == writes)
            #expect(statuses.allSatisfy { $0 == .created || $0 == .serviceUnavailable }, "\(Set(statuses.map(\.code)))")
            #expect(elapsed < timeouts.request + .seconds(2), "the flood took \(elapsed)")

            // For messages: how many reads, and the slowest few (start in the flood + time taken).
            let summary = "\(reads.count) reads, the slowest: "
                + reads.sorted { $0.took > $1.took }.prefix(5).map { "\($0.started.ms)+\($0.took.ms) ms" }.joined(separator: ", ")
            #expect(!reads.isEmpty, "no read ran during the flood")
            #expect(reads.allSatisfy { $0.status == .ok }, "\(Set(reads.map(\.status.code)))")
            let latencies = reads.map(\.took).sorted()
            let slowest = latencies.last ?? .zero
            let median = latencies.isEmpty ? .zero : latencies[latencies.count / 2]
            // The stall: without the per-workspace limit the flood holds every pooled connection
            // and a read of the other workspace queues behind all of it that still waits, so one
            // read takes nearly all the flood has left to run from the first read on (359–392 ms
            // of 373–397 ms alone on a 2-core machine; 1.6 of 1.6 s and 2.5 of 2.6 s beside the
            // other suites). With the limit no read waits for the flood: the slowest took 4–8 ms
            // alone, 19–204 ms of 1.2–5.2 s beside the other suites. A busy machine stretches the
            // flood and the reads alike, hence a share of what the flood had left to run: three
            // quarters, since the stall takes 94% or more of it (half was too tight once: on a
            // slow moment the reader started 1.26 s into the flood and its one read took 622 ms
            // of the 1.21 s left, with the limit in place); the floor keeps a short flood from
            // making the bound tighter than a scheduling hiccup.
            let floodLeft = elapsed - (reads.first?.started ?? .zero)
            let stallBound = max(.milliseconds(150), floodLeft * 3 / 4)
            #expect(slowest < stallBound, "a read of the other workspace took \(slowest) of the \(floodLeft) the flood ran after the first read: \(summary)")
            // The issue's figure (Benchmarks/ pool-isolation measures it): a median under 50 ms on
            // a quiet machine. With every other suite running beside this one, allow 10x the reads'
            // own median without the flood. This catches every read being slowed, not the stall
            // (one read in many), which the bound above catches.
            let medianBound = max(.milliseconds(50), quietMedian * 10)
            #expect(median < medianBound, "the other workspace's reads took \(median) (median) during the flood, \(quietMedian) without it: \(summary)")
        }
    }
}

private extension Duration {
    /// Whole milliseconds, for messages.
    var ms: Int64 { components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000 }
}

@Suite("WorkspaceGate: a bounded, ordered, cancellable queue per workspace")
struct WorkspaceGateTests {
    @Test func atMostLimitRunAtOnceAndOtherWorkspacesAreNotHeld() async throws {
        let gate = WorkspaceGate(limit: 2)
        let busy = UUID()
        let peak = NIOLockedValueBox((now: 0, max: 0))
        let released = NIOLockedValueBox(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await gate.run(busy, timeout: .seconds(20)) {
                        peak.withLockedValue { $0.now += 1; $0.max = max($0.max, $0.now) }
                        while !released.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(2)) }
                        peak.withLockedValue { $0.now -= 1 }
                    }
                }
            }
            // `busy` holds its two places until released, and queues the other eight.
            #expect(try await eventually(timeout: .seconds(10)) { gate.active(busy) == 2 && gate.waiting(busy) == 8 })
            // Another workspace gets in while `busy` still queues: had it waited behind `busy`,
            // it would never run (nothing is released until it has).
            let ran = try await gate.run(UUID(), timeout: .seconds(5)) { gate.waiting(busy) }
            #expect(ran == 8)
            released.withLockedValue { $0 = true }
            try await group.waitForAll()
        }
        #expect(peak.withLockedValue { $0.max } == 2)
        #expect(gate.active(busy) == 0)
    }

    @Test("a lone workspace runs up to its sole limit; once another has work, it is held to its limit, and gets the room back when alone again")
    func aLoneWorkspaceBorrowsIdleRoomAndGivesItBackWhenAnotherArrives() async throws {
        let gate = WorkspaceGate(limit: 2, soleLimit: 5)
        let lone = UUID(), other = UUID()
        let finishes = NIOLockedValueBox(0)  // how many of `lone`'s operations may still end
        let finished = NIOLockedValueBox(0)
        let otherMayEnd = NIOLockedValueBox(false)
        func eventually(_ what: String, _ condition: () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(5)
            while !condition() {
                guard ContinuousClock.now < deadline else { Issue.record("never: \(what)"); return }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await gate.run(lone, timeout: .seconds(10)) {
                        while !finishes.withLockedValue({ if $0 > 0 { $0 -= 1; return true }; return false }) {
                            try await Task.sleep(for: .milliseconds(2))
                        }
                    }
                    finished.withLockedValue { $0 += 1 }
                }
            }
            try await eventually("5 of the lone workspace's 8 run") { gate.active(lone) == 5 }
            try await Task.sleep(for: .milliseconds(30))
            #expect(gate.active(lone) == 5, "past its sole limit")

            group.addTask {
                try await gate.run(other, timeout: .seconds(10)) {
                    while !otherMayEnd.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(2)) }
                }
            }
            try await eventually("the other workspace gets in at once") { gate.active(other) == 1 }

            // Three of the lone workspace's operations end: none is replaced while it is above its limit.
            finishes.withLockedValue { $0 = 3 }
            try await eventually("three end") { finished.withLockedValue { $0 } == 3 }
            try await Task.sleep(for: .milliseconds(30))
            #expect(gate.active(lone) == 2)
            // At its limit, one ending lets one waiter in.
            finishes.withLockedValue { $0 += 1 }
            try await eventually("a fourth ends") { finished.withLockedValue { $0 } == 4 }
            try await Task.sleep(for: .milliseconds(30))
            #expect(gate.active(lone) == 2)

            // Alone again: its two waiters start at once.
            otherMayEnd.withLockedValue { $0 = true }
            try await eventually("the waiters start when the other workspace is done") { gate.active(lone) == 4 }
            #expect(gate.active(other) == 0)
            finishes.withLockedValue { $0 = 100 }
            try await group.waitForAll()
        }
        #expect(finished.withLockedValue { $0 } == 8)
        #expect(gate.active(lone) == 0)
    }

    @Test func aFullQueueAndALongWaitAre503sAndLeaveNoPlaceBehind() async throws {
        let gate = WorkspaceGate(limit: 1, maxWaiting: 1)
        let ws = UUID()
        let release = NIOLockedValueBox(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await gate.run(ws, timeout: nil) {
                    while !release.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                }
            }
            #expect(try await eventually(timeout: .seconds(5)) { gate.active(ws) == 1 }, "the holder has the place")
            // One may wait (and times out); a second waiter at the same time is refused at once.
            group.addTask {
                await #expect(throws: Problem.self) { try await gate.run(ws, timeout: .milliseconds(200)) {} }
            }
            #expect(try await eventually(timeout: .seconds(5)) { gate.waiting(ws) == 1 }, "the first waiter is queued")
            do {
                try await gate.run(ws, timeout: .seconds(5)) {}
                Issue.record("a second waiter was let into a queue of one")
            } catch let problem as Problem {
                #expect(problem.status == .serviceUnavailable)
            }
            try await Task.sleep(for: .milliseconds(300))
            release.withLockedValue { $0 = true }
            try await group.waitForAll()
        }
        #expect(gate.active(ws) == 0)
        // And the place the timed-out waiter gave up is usable.
        try await gate.run(ws, timeout: .milliseconds(100)) {}
    }

    /// A task holding `workspace`'s one place in `gate` until `release` is set.
    private static func holdThePlace(of workspace: UUID, in gate: WorkspaceGate) -> (Task<Void, any Error>, release: NIOLockedValueBox<Bool>) {
        let release = NIOLockedValueBox(false)
        let holder = Task {
            try await gate.run(workspace, timeout: nil) {
                while !release.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
        return (holder, release)
    }

    @Test func aWaiterWhoseRequestDeadlineComesFirstGetsTheDeadlineProblemAndLeavesNoPlaceBehind() async throws {
        let gate = WorkspaceGate(limit: 1)
        let ws = UUID()
        let (holder, release) = Self.holdThePlace(of: ws, in: gate)
        #expect(try await eventually(timeout: .seconds(5)) { gate.active(ws) == 1 }, "the holder has the place")
        let clock = ContinuousClock()
        let started = clock.now
        do {
            // The gate's own limit is 30 s; the request's deadline, 150 ms.
            try await RequestDeadline.$current.withValue(RequestDeadline(timeout: .milliseconds(150))) {
                try await gate.run(ws, timeout: .seconds(30)) {}
            }
            Issue.record("the waiter got a place although the holder never left")
        } catch let problem as Problem {
            #expect(problem.status == .serviceUnavailable)
            #expect(problem.detail?.contains("did not finish within 150 ms") == true, "\(problem.detail ?? "")")
        }
        #expect(clock.now - started < .seconds(5))
        #expect(gate.waiting(ws) == 0)
        // A request whose deadline has already passed is refused without queueing.
        await #expect(throws: Problem.self) {
            try await RequestDeadline.$current.withValue(RequestDeadline(timeout: .zero)) {
                try await gate.run(ws, timeout: .seconds(30)) {}
            }
        }
        #expect(gate.waiting(ws) == 0)
        release.withLockedValue { $0 = true }
        try await holder.value
        #expect(gate.active(ws) == 0)
    }

    @Test func waitersThatAreGrantedTimeOutOrAreCancelledAllAtOnceEachSettleOnceAndLeakNoPlace() async throws {
        // Grants, timeouts, passed deadlines and cancellations race for the same tickets: each waiter must end
        // (run, or throw), the limits must hold throughout, and every place must come back.
        let gate = WorkspaceGate(limit: 2, soleLimit: 3, maxWaiting: 1_000)
        let workspaces = [UUID(), UUID()]
        let running = NIOLockedValueBox([UUID: Int]())
        let peak = NIOLockedValueBox(0)
        let outcomes = NIOLockedValueBox((ran: 0, timedOut: 0, cancelled: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            var waiters: [Task<Void, Never>] = []
            for index in 0..<400 {
                let workspace = workspaces[index % 2]
                // Some carry a request deadline that has passed (refused unless let in at once).
                let deadline = index % 11 == 0 ? RequestDeadline(timeout: .zero) : nil
                let waiter = Task {
                    do {
                        try await RequestDeadline.$current.withValue(deadline) {
                            try await gate.run(workspace, timeout: index % 3 == 0 ? .milliseconds(1 + index % 7) : .seconds(30)) {
                                let now = running.withLockedValue { $0[workspace, default: 0] += 1; return $0[workspace]! }
                                peak.withLockedValue { $0 = max($0, now) }
                                try? await Task.sleep(for: .microseconds(200))
                                running.withLockedValue { $0[workspace, default: 0] -= 1 }
                            }
                        }
                        outcomes.withLockedValue { $0.ran += 1 }
                    } catch is CancellationError {
                        outcomes.withLockedValue { $0.cancelled += 1 }
                    } catch {
                        outcomes.withLockedValue { $0.timedOut += 1 }
                    }
                }
                waiters.append(waiter)
                if index % 5 == 0 { group.addTask { try await Task.sleep(for: .microseconds(index % 400)); waiter.cancel() } }
            }
            for waiter in waiters { await waiter.value }
            try await group.waitForAll()
        }
        let settled = outcomes.withLockedValue { $0 }
        #expect(settled.ran + settled.timedOut + settled.cancelled == 400)
        #expect(settled.ran > 0)
        #expect(peak.withLockedValue { $0 } <= 3, "a workspace ran past its sole limit")
        for workspace in workspaces {
            #expect(gate.active(workspace) == 0, "a place was leaked")
            #expect(gate.waiting(workspace) == 0, "a ticket was left in the queue")
        }
        // The places all came back: each workspace gets its whole sole limit again at once.
        try await gate.run(workspaces[0], timeout: .milliseconds(100)) {
            try await gate.run(workspaces[0], timeout: .milliseconds(100)) {
                try await gate.run(workspaces[0], timeout: .milliseconds(100)) {}
            }
        }
    }

    @Test func aCancelledWaiterGivesUpItsTicket() async throws {
        let gate = WorkspaceGate(limit: 1)
        let ws = UUID()
        let (holder, release) = Self.holdThePlace(of: ws, in: gate)
        try await Task.sleep(for: .milliseconds(20))
        let waiter = Task { try await gate.run(ws, timeout: nil) {} }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        release.withLockedValue { $0 = true }
        try await holder.value
        #expect(gate.active(ws) == 0)
    }
}
