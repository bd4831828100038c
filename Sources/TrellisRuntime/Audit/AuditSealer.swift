import Logging
import PostgresNIO
import ServiceLifecycle

/// Links unsealed audit entries into their workspace's hash chain, off the write path
/// (`migrations/0007_audit_sealer.sql`): a write appends its entry without waiting for any
/// lock, and this service, on every server instance, seals what is pending a few times a
/// second. Sealers on several instances share the work: each skips a workspace another one
/// is sealing.
public struct AuditSealer: Service {
    let postgres: PostgresClient
    let logger: Logger

    /// Pause between rounds when nothing was left to seal.
    static let interval: Duration = .milliseconds(200)
    /// Entries per workspace per round.
    static let batch = 1_000

    public init(postgres: PostgresClient, logger: Logger) {
        self.postgres = postgres
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                var more = false
                do {
                    more = try await Self.sealRound(postgres, logger: logger) >= Self.batch
                    if failing { logger.notice("audit sealing recovered") }
                    failing = false
                } catch {
                    // Shutting down: the round was cut short, nothing failed.
                    if Task.isCancelled { break }
                    if !failing { logger.warning("audit sealing failed", metadata: ["error": "\(String(reflecting: error))"]) }
                    failing = true
                }
                if !more { try? await Task.sleep(for: Self.interval) }
            }
        }
        // Seal what the last requests wrote before the process goes: one round, since other
        // instances may keep writing (they seal their own entries, or the next start does).
        _ = try? await Self.sealRound(postgres, logger: logger)
    }

    /// One round: up to ``batch`` entries in each of up to 100 workspaces. Returns the count.
    @discardableResult
    static func sealRound(_ client: PostgresClient, logger: Logger) async throws -> Int {
        let rows = try await client.rows("SELECT trellis_audit_seal(\(Int32(batch)))", logger: logger)
        return try rows.first?.decode(Int.self) ?? 0
    }

    /// Seals until nothing is pending (or another sealer holds what is), in at most 100
    /// rounds: writers that never stop cannot keep it going.
    public static func sealAll(_ client: PostgresClient, logger: Logger) async throws {
        for _ in 0..<100 {
            if try await sealRound(client, logger: logger) == 0 { return }
        }
    }
}
