import Foundation
import Logging
import PostgresNIO
import TrellisTracing

/// One grouped error as `GET /v1/admin/errors` and `trellis errors` show it.
public struct ErrorEventRecord: Sendable, JSONWritable {
    public var fingerprint: String
    public var kind: String
    public var errorType: String
    public var location: String
    public var frame: String
    public var detail: String
    public var occurrences: Int64
    public var firstSeen: Date
    public var lastSeen: Date
    public var sampleRequestID: String?
    public var sampleTraceID: String?
    public var resolvedAt: Date?
    public var reopened: Int32

    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("fingerprint"); w.value(fingerprint)
        w.key("object"); w.value("error")
        w.key("kind"); w.value(kind)
        w.key("error_type"); w.value(errorType)
        w.key("location"); w.value(location)
        w.key("frame"); w.value(frame)
        w.key("detail"); w.value(detail)
        w.key("occurrences"); w.value(occurrences)
        w.key("first_seen"); w.value(firstSeen)
        w.key("last_seen"); w.value(lastSeen)
        w.key("sample_request_id"); if let sampleRequestID { w.value(sampleRequestID) } else { w.null() }
        w.key("sample_trace_id"); if let sampleTraceID { w.value(sampleTraceID) } else { w.null() }
        w.key("resolved"); w.value(resolvedAt != nil)
        w.key("resolved_at"); if let resolvedAt { w.value(resolvedAt) } else { w.null() }
        w.key("reopened"); w.value(Int64(reopened))
        w.endObject()
    }
}

/// The `error_events` table: written in batches by ``ErrorTrackerService``, read and resolved
/// by platform admins (`GET /v1/admin/errors`) and the owner role (`trellis errors`). Every
/// function first turns on `trellis.platform_admin` for its transaction, which the table's
/// row-level security asks of the server's role (the owner role passes without it).
public enum ErrorEvents {
    /// Which errors a list shows.
    public enum Filter: String, Sendable, CaseIterable {
        case open
        case resolved
        case all
    }

    static let columns = """
        fingerprint, kind, error_type, location, frame, detail, occurrences, first_seen, last_seen, sample_request_id,
        sample_trace_id, resolved_at, reopened
        """

    /// Writes `groups` (one per fingerprint) in one statement.
    static func write(_ groups: [ErrorTracker.Group], on connection: PostgresConnection, logger: Logger) async throws {
        guard !groups.isEmpty else { return }
        var w = JSONWriter(capacity: 256 * groups.count)
        w.beginArray()
        for group in groups {
            w.beginObject()
            w.key("fingerprint"); w.value(group.fingerprint)
            w.key("kind"); w.value(group.first.kind.rawValue)
            w.key("error_type"); w.value(group.first.signature.type)
            w.key("location"); w.value(group.first.location)
            w.key("frame"); w.value(group.first.signature.frame)
            w.key("detail"); w.value(group.first.signature.detail)
            w.key("occurrences"); w.value(Int64(group.count))
            w.key("first_seen"); w.value(group.first.at)
            w.key("last_seen"); w.value(group.last.at)
            w.key("request_id"); if let id = group.last.requestID { w.value(id) } else { w.null() }
            w.key("trace_id"); if let id = group.last.traceID { w.value(id) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        _ = try await connection.rows("SELECT trellis_errors_record(\(w.string)::jsonb)", logger: logger)
    }

    /// Up to `limit` errors, most recently seen first, and whether more follow.
    public static func list(
        _ filter: Filter, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> (errors: [ErrorEventRecord], hasMore: Bool) {
        try await Traced.call("errors", "list") {
            try await asPlatformAdmin(connection, logger: logger)
            let condition = switch filter {
            case .open: "WHERE resolved_at IS NULL"
            case .resolved: "WHERE resolved_at IS NOT NULL"
            case .all: ""
            }
            let rows = try await connection.rows(
                PostgresQuery(unsafeSQL: "SELECT \(columns) FROM error_events \(condition) ORDER BY last_seen DESC, fingerprint LIMIT \(limit + 1)"),
                logger: logger)
            let records = try decode(rows)
            return (Array(records.prefix(limit)), records.count > limit)
        }
    }

    public static func get(_ fingerprint: String, on connection: PostgresConnection, logger: Logger) async throws -> ErrorEventRecord? {
        try await Traced.call("errors", "get") {
            try await asPlatformAdmin(connection, logger: logger)
            let rows = try await connection.rows(
                PostgresQuery(unsafeSQL: "SELECT \(columns) FROM error_events WHERE fingerprint = $1", binds: binds(fingerprint)), logger: logger)
            return try decode(rows).first
        }
    }

    /// At most two errors whose fingerprint starts with `prefix` (hex digits): enough to tell
    /// one match from several.
    public static func matching(prefix: String, on connection: PostgresConnection, logger: Logger) async throws -> [ErrorEventRecord] {
        try await asPlatformAdmin(connection, logger: logger)
        let hex = String(prefix.lowercased().filter(\.isHexDigit).prefix(64))
        let rows = try await connection.rows(
            PostgresQuery(unsafeSQL: "SELECT \(columns) FROM error_events WHERE fingerprint LIKE $1 ORDER BY fingerprint LIMIT 2", binds: binds(hex + "%")),
            logger: logger)
        return try decode(rows)
    }

    /// Marks the error resolved (again, if it was); the next occurrence re-opens it.
    public static func resolve(_ fingerprint: String, on connection: PostgresConnection, logger: Logger) async throws -> ErrorEventRecord? {
        try await Traced.call("errors", "resolve") {
            try await asPlatformAdmin(connection, logger: logger)
            let rows = try await connection.rows(
                PostgresQuery(
                    unsafeSQL: "UPDATE error_events SET resolved_at = now() WHERE fingerprint = $1 RETURNING \(columns)", binds: binds(fingerprint)),
                logger: logger)
            return try decode(rows).first
        }
    }

    /// Whether `text` can be a fingerprint (64 lowercase hex digits); anything else matches none.
    public static func isFingerprint(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    private static func asPlatformAdmin(_ connection: PostgresConnection, logger: Logger) async throws {
        _ = try await connection.rows("SELECT set_config('trellis.platform_admin', 'on', true)", logger: logger)
    }

    private static func binds(_ fingerprint: String) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(fingerprint)
        return binds
    }

    private static func decode(_ rows: [PostgresRow]) throws -> [ErrorEventRecord] {
        var records: [ErrorEventRecord] = []
        for row in rows {
            let (fingerprint, kind, type, location, frame, detail, occurrences, first, last, request, trace, resolved, reopened) = try row.decode(
                (String, String, String, String, String, String, Int64, Date, Date, String?, String?, Date?, Int32).self)
            records.append(ErrorEventRecord(
                fingerprint: fingerprint, kind: kind, errorType: type, location: location, frame: frame, detail: detail,
                occurrences: occurrences, firstSeen: first, lastSeen: last, sampleRequestID: request, sampleTraceID: trace,
                resolvedAt: resolved, reopened: reopened))
        }
        return records
    }
}
