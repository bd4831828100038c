import ArgumentParser
import Foundation
import PostgresNIO
import TrellisRuntime

struct Errors: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tracked errors: every 5xx and failed job attempt, grouped by fingerprint (uses DATABASE_OWNER_URL).",
        subcommands: [List.self, Show.self, Resolve.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List errors, most recently seen first.")
        @Option(help: "open (not resolved, or back since), resolved, or all.") var status = "open"
        @Option(help: "At most this many (1 to 1000).") var limit = 50
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            guard let filter = ErrorEvents.Filter(rawValue: status) else {
                throw ValidationError("--status must be open, resolved or all, got '\(status)'")
            }
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1 to 1000, got \(limit)") }
            let chosenLimit = limit
            let (errors, hasMore) = try await withOwnerConnectionInTransaction { connection, logger in
                try await ErrorEvents.list(filter, limit: chosenLimit, on: connection, logger: logger)
            }
            if json {
                var w = JSONWriter()
                w.beginArray()
                for error in errors { error.writeJSON(to: &w) }
                w.endArray()
                print(w.string)
                return
            }
            if errors.isEmpty { print(filter == .open ? "no open errors" : "no errors") }
            for error in errors {
                let state = error.resolvedAt == nil ? (error.reopened > 0 ? "reopened" : "open") : "resolved"
                print("\(error.fingerprint.prefix(12))  \(state.padding(toLength: 8, withPad: " ", startingAt: 0))  \(String(error.occurrences).padding(toLength: 7, withPad: " ", startingAt: 0))  last \(RFC3339.format(error.lastSeen))  \(error.kind) \(error.location)  \(error.errorType) \(error.detail)")
            }
            if hasMore { print("(more: --limit \(min(chosenLimit * 2, 1000)))") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one error by its fingerprint (or a unique prefix of at least 8 characters).")
        @Argument(help: "The fingerprint, or its first characters.") var fingerprint: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let error = try await Errors.find(fingerprint)
            if json {
                var w = JSONWriter()
                error.writeJSON(to: &w)
                print(w.string)
                return
            }
            print("""
                fingerprint   \(error.fingerprint)
                kind          \(error.kind)
                location      \(error.location)
                error type    \(error.errorType)
                detail        \(error.detail.isEmpty ? "-" : error.detail)
                frame         \(error.frame.isEmpty ? "-" : error.frame)
                occurrences   \(error.occurrences)
                first seen    \(RFC3339.format(error.firstSeen))
                last seen     \(RFC3339.format(error.lastSeen))
                request id    \(error.sampleRequestID ?? "-")
                trace id      \(error.sampleTraceID ?? "-")
                resolved      \(error.resolvedAt.map { RFC3339.format($0) } ?? "no")\(error.reopened > 0 ? " (reopened \(error.reopened) times)" : "")
                """)
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark an error resolved; it re-opens if it happens again.")
        @Argument(help: "The fingerprint, or its first characters.") var fingerprint: String

        func run() async throws {
            let found = try await Errors.find(fingerprint).fingerprint
            let resolved = try await withOwnerConnectionInTransaction { connection, logger in
                try await ErrorEvents.resolve(found, on: connection, logger: logger)
            }
            guard let resolved else { throw ValidationError("no error with fingerprint \(found)") }
            print("resolved \(resolved.fingerprint) (\(resolved.kind) \(resolved.location), \(resolved.occurrences) occurrences)")
        }
    }

    /// The one error whose fingerprint is `text` or starts with it (at least 8 hex digits).
    static func find(_ text: String) async throws -> ErrorEventRecord {
        let prefix = text.lowercased()
        guard prefix.count >= 8, prefix.count <= 64, prefix.allSatisfy(\.isHexDigit) else {
            throw ValidationError("a fingerprint is 64 hex digits; give it, or at least its first 8, got '\(text.prefix(70))'")
        }
        let matches = try await withOwnerConnectionInTransaction { connection, logger in
            try await ErrorEvents.matching(prefix: prefix, on: connection, logger: logger)
        }
        guard let first = matches.first else { throw ValidationError("no error with a fingerprint starting \(prefix)") }
        guard matches.count == 1 else { throw ValidationError("\(matches.count) errors have fingerprints starting \(prefix); give more characters") }
        return first
    }
}

/// Runs `body` in one transaction on a connection of `DATABASE_OWNER_URL`.
func withOwnerConnectionInTransaction<T: Sendable>(
    _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T
) async throws -> T {
    try await withOwnerClient { client, logger in
        try await client.withConnection { connection in
            _ = try await connection.query("BEGIN", logger: logger).collect()
            do {
                let result = try await body(connection, logger)
                _ = try await connection.query("COMMIT", logger: logger).collect()
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger).collect()
                throw error
            }
        }
    }
}
