import Foundation
import NIOConcurrencyHelpers
import PostgresNIO
import TrellisRuntime

/// Jobs handed to this worker in their enqueuing transaction (migration 0021): a claim that
/// finds its queue empty offers slots (`trellis_jobs_claim_and_wait`), an enqueue that finds an
/// offer commits its job `running` under this worker and says so on ``JobWorker/handOffChannel``,
/// and the queue's loop reads the job and starts it (docs/operations.md, "Hand-off to a waiting
/// worker").
extension JobWorker {
    /// What wakes a queue loop from outside: jobs handed to this worker, and whether the wake
    /// asks for a claim (a NOTIFY, a poll, a test; a hand-off alone does not: the queue was
    /// empty when this worker offered its slots).
    struct QueueInbox {
        var handed: [UUID] = []
        var claim = true

        mutating func take() -> (handed: [UUID], claim: Bool) {
            defer { self = QueueInbox(claim: false) }
            return (handed, claim)
        }
    }

    /// A job handed to this worker (`<id> <queue>` on ``handOffChannel``): its queue's loop
    /// starts it at its next wake-up.
    func handedOff(_ payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let id = UUID(uuidString: String(parts[0])), let inbox = inboxes[String(parts[1])] else {
            logger.warning("ignored a malformed hand-off notification", metadata: ["payload": "\(payload.prefix(200))"])
            return
        }
        inbox.withLockedValue { $0.handed.append(id) }
        wakes[String(parts[1])]?.continuation.yield()
    }

    /// Reads the jobs handed to this worker that fit in `room` (one read, nothing to commit)
    /// and gives the rest back to the queue. A job that could not be read, or whose lease has
    /// less than half left (its enqueuing transaction stayed open long after the hand-off),
    /// stays leased to this worker until its lease runs out and the rescuer returns it.
    func takeHanded(_ ids: [UUID], queue: String, room: Int) async -> [ClaimedJob] {
        let taking = Array(ids.prefix(max(room, 0)))
        if taking.count < ids.count { await release(Array(ids.dropFirst(taking.count)), queue: queue) }
        guard !taking.isEmpty else { return [] }
        do {
            return try await postgres.withConnection(leaseTimeout: poolLease) { connection in
                try Self.claimedJobs(try await connection.rows(
                    "SELECT * FROM trellis_jobs_handed(\(name), \(taking), \(Int32(configuration.lease.components.seconds / 2)))",
                    logger: logger))
            }
        } catch {
            logger.warning("could not read jobs handed to this worker; the rescuer returns them when their leases run out",
                           metadata: ["jobs": "\(taking.count)", "error": "\(String(reflecting: error))"])
            return []
        }
    }

    /// Gives handed jobs this worker will not run back to their queue, the attempt not
    /// counted, and announces them to the other workers.
    func release(_ ids: [UUID], queue: String) async {
        do {
            _ = try await postgres.withConnection(leaseTimeout: poolLease) { connection in
                try await connection.rows(
                    "SELECT trellis_jobs_release(\(name), \(ids)), pg_notify(\(JobQueue.channel), \(queue))", logger: logger)
            }
        } catch {
            logger.warning("could not give handed jobs back; the rescuer returns them when their leases run out",
                           metadata: ["jobs": "\(ids.count)", "error": "\(String(reflecting: error))"])
        }
    }

    /// Takes a random key of this worker's own as a session advisory lock on the LISTEN
    /// connection. It is held as long as that connection listens: an enqueue hands jobs only to
    /// workers whose key is held (migration 0022), and a backend that is gone holds nothing.
    func holdListenerKey(on connection: PostgresConnection) async throws -> Int64 {
        while true {
            let key = Int64.random(in: 1...Int64.max)
            // Never blocks; another holder of the same key (2^-63) just means another draw.
            let held = try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger).collect()
            if try held.first?.decode(Bool.self) == true { return key }
        }
    }

    /// Stops offering under the listener's key, then lets go of it (the connection goes back to
    /// the pool). Offers made under it stand until they lapse, and are passed over. A connection
    /// that is broken let go of it with its backend.
    func letGoOfListenerKey(_ key: Int64?, on connection: PostgresConnection) async {
        guard let key else { return }
        listenerKey.withLockedValue { if $0 == key { $0 = nil } }
        // A query runs even in a cancelled task (a worker stopped without a graceful shutdown).
        _ = try? await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger).collect()
    }

    /// Gives back the jobs whose hand-off was heard after their queue's loop had ended (the
    /// worker was stopping): nothing would start them, and they would wait for their leases.
    func releaseHandedAfterTheLoops() async {
        for (queue, inbox) in inboxes {
            let handed = inbox.withLockedValue { $0.take().handed }
            if !handed.isEmpty { await release(handed, queue: queue) }
        }
    }

    /// Withdraws this worker's offers (it is stopping, or its hand-offs would go unheard).
    func withdrawOffers() async {
        _ = try? await postgres.withConnection(leaseTimeout: poolLease) { connection in
            try await connection.rows("SELECT trellis_jobs_withdraw(\(name))", logger: logger)
        }
    }
}
