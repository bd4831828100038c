import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import Testing
@testable import TrellisRuntime

@Suite("One workspace cannot starve the others")
struct WorkspaceIsolationTests {
    @Test func aFloodOfAuditedWritesInOneWorkspaceLeavesAnotherWorkspacesReadsFast() async throws {
        let flooded = try await TestDatabase.shared.makeWorkspace()
        let floodKey = try await makeKey(workspace: flooded, scopes: ["*"]).token.text
        var limits = Timeouts()
        limits.request = .seconds(10)
        let timeouts = limits
        try await withApp(timeouts: timeouts, gate: WorkspaceGate(limit: 2)) { client, _ in
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
            let started = ContinuousClock.now
            let (statuses, latencies) = try await withThrowingTaskGroup(of: (HTTPResponse.Status?, Duration?).self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let res = try await client.send(.post, "/v1/tools", json: #"{"name":"flood \#(i)"}"#, as: .bearer(floodKey))
                        return (res.status, nil)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(50))  // the flood is under way
                    var latencies: [Duration] = []
                    for _ in 0..<30 {
                        let t = ContinuousClock.now
                        #expect(try await client.send(.get, "/v1/agents?limit=5").status == .ok)
                        latencies.append(ContinuousClock.now - t)
                    }
                    return (nil, latencies.sorted()[latencies.count / 2])
                }
                var statuses: [HTTPResponse.Status] = []
                var median: Duration?
                for try await (status, latency) in group {
                    if let status { statuses.append(status) }
                    if let latency { median = latency }
                }
                return (statuses, median)
            }
            let elapsed = ContinuousClock.now - started
            #expect(statuses.count == 200)
            #expect(statuses.allSatisfy { $0 == .created || $0 == .serviceUnavailable }, "\(Set(statuses.map(\.code)))")
            #expect(elapsed < timeouts.request + .seconds(2), "the flood took \(elapsed)")
            let median = try #require(latencies)
            // 50 ms on a quiet machine (the issue's bound; Benchmarks/ pool-isolation measures it). With
            // every other suite running beside this one, allow 5x the reads' own median without the flood.
            // Without the per-workspace limit the reads queue behind the flood: hundreds of milliseconds.
            let bound = max(.milliseconds(50), quietMedian * 5)
            #expect(median < bound, "the other workspace's reads took \(median) (median) during the flood, \(quietMedian) without it")
        }
    }
}

@Suite("WorkspaceGate: a bounded, ordered, cancellable queue per workspace")
struct WorkspaceGateTests {
    @Test func atMostLimitRunAtOnceAndOtherWorkspacesAreNotHeld() async throws {
        let gate = WorkspaceGate(limit: 2)
        let busy = UUID()
        let peak = NIOLockedValueBox((now: 0, max: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await gate.run(busy, timeout: .seconds(5)) {
                        peak.withLockedValue { $0.now += 1; $0.max = max($0.max, $0.now) }
                        try await Task.sleep(for: .milliseconds(20))
                        peak.withLockedValue { $0.now -= 1 }
                    }
                }
            }
            // Another workspace gets in at once while `busy` queues.
            try await Task.sleep(for: .milliseconds(5))
            let t = ContinuousClock.now
            try await gate.run(UUID(), timeout: .seconds(5)) {}
            #expect(ContinuousClock.now - t < .milliseconds(15))
            try await group.waitForAll()
        }
        #expect(peak.withLockedValue { $0.max } == 2)
        #expect(gate.active(busy) == 0)
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
            try await Task.sleep(for: .milliseconds(20))
            // One may wait (and times out); a second waiter at the same time is refused at once.
            group.addTask {
                await #expect(throws: Problem.self) { try await gate.run(ws, timeout: .milliseconds(200)) {} }
            }
            try await Task.sleep(for: .milliseconds(20))
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

    @Test func aCancelledWaiterGivesUpItsTicket() async throws {
        let gate = WorkspaceGate(limit: 1)
        let ws = UUID()
        let release = NIOLockedValueBox(false)
        let holder = Task {
            try await gate.run(ws, timeout: nil) {
                while !release.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            }
        }
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
