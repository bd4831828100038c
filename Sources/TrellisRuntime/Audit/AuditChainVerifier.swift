import Foundation
import Logging
import PostgresNIO

/// Recomputes every workspace's audit hash chain (`trellis audit verify`) and reports the
/// first broken link of each: an edited entry, a missing or reordered one, or a chain cut
/// short. Runs as the owner role, which sees every workspace.
///
/// Entries are appended unsealed and linked by the ``AuditSealer`` within a second; entries
/// still unsealed after ``staleAfter`` mean no sealer is running, and are reported. The
/// verifier then seals what is pending, so the chain it checks is complete.
public enum AuditChainVerifier {
    public struct Report: Sendable, Hashable {
        public var workspaceID: UUID
        public var entries: Int
        /// Nil when the chain is intact.
        public var brokenLink: BrokenLink?
        /// Entries that were still unsealed ``AuditChainVerifier/staleAfter`` after they were written.
        public var staleUnsealed: Int = 0
    }

    /// How long an entry may wait for the sealer before `verify` reports it.
    public static let staleAfter: Duration = .seconds(60)

    public struct BrokenLink: Sendable, Hashable, CustomStringConvertible {
        public var seq: Int64
        public var reason: String
        public var description: String { "broken at seq \(seq): \(reason)" }
    }

    static let genesis = Data(repeating: 0, count: 32)

    public static func verify(_ client: PostgresClient, workspace: UUID?, logger: Logger) async throws -> [Report] {
        var stale: [UUID: Int] = [:]
        let staleRows = try await client.query(
            """
            SELECT workspace_id, count(*)::bigint FROM audit_log
            WHERE seq IS NULL AND occurred_at < clock_timestamp() - make_interval(secs => \(Double(staleAfter.components.seconds)))
              AND (\(workspace)::uuid IS NULL OR workspace_id = \(workspace))
            GROUP BY workspace_id
            """, logger: logger)
        for try await (ws, count) in staleRows.decode((UUID, Int64).self) { stale[ws] = Int(count) }
        try await AuditSealer.sealAll(client, logger: logger)
        let rows = try await client.query(
            """
            SELECT a.workspace_id, a.seq, a.prev_hash, a.hash, sha256(a.prev_hash || trellis_audit_payload(a)),
                   lag(a.seq) OVER w, lag(a.hash) OVER w
            FROM audit_log a WHERE a.seq IS NOT NULL AND (\(workspace)::uuid IS NULL OR a.workspace_id = \(workspace))
            WINDOW w AS (PARTITION BY a.workspace_id ORDER BY a.seq)
            ORDER BY a.workspace_id, a.seq
            """, logger: logger)
        var reports: [UUID: Report] = [:]
        var order: [UUID] = []
        for try await (ws, seq, prevHash, hash, expected, previousSeq, previousHash) in rows.decode(
            (UUID, Int64, Data, Data, Data, Int64?, Data?).self)
        {
            if reports[ws] == nil {
                reports[ws] = Report(workspaceID: ws, entries: 0, brokenLink: nil)
                order.append(ws)
            }
            reports[ws]!.entries += 1
            guard reports[ws]!.brokenLink == nil else { continue }
            let expectedSeq = (previousSeq ?? 0) + 1
            let expectedPrev = previousHash ?? genesis
            var reason: String?
            if seq != expectedSeq {
                reason = "expected seq \(expectedSeq) here: entries are missing"
            } else if prevHash != expectedPrev {
                reason = "prev_hash does not match the previous entry's hash"
            } else if hash != expected {
                reason = "the entry's content does not match its hash (it was altered)"
            }
            if let reason { reports[ws]!.brokenLink = BrokenLink(seq: seq, reason: reason) }
        }
        // A chain whose newest entries were removed still links up: compare with the head.
        let heads = try await client.query(
            "SELECT workspace_id, seq FROM audit_chain_heads WHERE \(workspace)::uuid IS NULL OR workspace_id = \(workspace)",
            logger: logger)
        for try await (ws, headSeq) in heads.decode((UUID, Int64).self) {
            var report = reports[ws] ?? Report(workspaceID: ws, entries: 0, brokenLink: nil)
            if reports[ws] == nil { order.append(ws) }
            if report.brokenLink == nil, Int64(report.entries) < headSeq {
                report.brokenLink = BrokenLink(seq: Int64(report.entries) + 1, reason: "the chain head is at seq \(headSeq): later entries are missing")
            }
            reports[ws] = report
        }
        for (ws, count) in stale {
            if reports[ws] == nil {
                reports[ws] = Report(workspaceID: ws, entries: 0, brokenLink: nil)
                order.append(ws)
            }
            reports[ws]!.staleUnsealed = count
        }
        return order.map { reports[$0]! }
    }
}
