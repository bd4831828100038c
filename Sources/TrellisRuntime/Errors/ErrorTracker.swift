import Crypto
import Foundation
import NIOConcurrencyHelpers
import PostgresNIO
import TrellisPostgres

/// What identifies an error without any of its data: its type, where in our code it was raised
/// (when the error records that), and its code. Swift errors carry no stack trace; postgres-nio's
/// `PSQLError` records the file and line of the query that failed, which is the frame used.
/// Never a message: messages can hold the values of a request or a row.
public struct ErrorSignature: Sendable, Hashable {
    public var type: String
    public var frame: String
    public var detail: String

    public init(type: String, frame: String = "", detail: String = "") {
        self.type = type
        self.frame = frame
        self.detail = detail
    }

    public init(_ error: any Error) {
        switch error {
        case let psql as PSQLError:
            self.init(
                type: "PSQLError", frame: psql.file.map { "\($0):\(psql.line ?? 0)" } ?? "",
                detail: psql.serverInfo?[.sqlState].map { "SQLSTATE \($0)" } ?? "\(psql.code)")
        case let pipelined as PostgresPipelineError:
            self.init(type: "PostgresPipelineError", detail: pipelined.sqlState.map { "SQLSTATE \($0)" } ?? "\(pipelined)")
        case let problem as Problem:
            self.init(type: "Problem", detail: problem.code)
        default:
            self.init(type: String(reflecting: Swift.type(of: error)))
        }
    }
}

/// One occurrence of a 5xx or a failed job attempt.
public struct ErrorOccurrence: Sendable {
    public enum Kind: String, Sendable {
        case request
        case job
    }

    public var kind: Kind
    public var signature: ErrorSignature
    /// The route template (`/v1/agents/{id}`) or the job type: never a raw path.
    public var location: String
    /// The request id (or `job_<id>`) to find the occurrence in the logs.
    public var requestID: String?
    public var traceID: String?
    public var at: Date

    public init(kind: Kind, signature: ErrorSignature, location: String, requestID: String?, traceID: String? = nil, at: Date = Date()) {
        self.kind = kind
        self.signature = signature
        self.location = location
        self.requestID = requestID
        self.traceID = traceID
        self.at = at
    }

    /// Lowercase hex SHA-256 of kind, type, location, frame and detail.
    public var fingerprint: String {
        let text = [kind.rawValue, signature.type, location, signature.frame, signature.detail].joined(separator: "\u{1F}")
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// Occurrences waiting to be written, grouped by fingerprint. Recording never waits on
/// anything but a lock: the request or the job that failed is not held up by the error log.
/// At most ``capacity`` fingerprints wait; occurrences of new fingerprints past it are dropped
/// and counted (``dropped``), while known ones are still counted.
public final class ErrorTracker: Sendable {
    /// Occurrences of one fingerprint since the last flush.
    public struct Group: Sendable {
        public var fingerprint: String
        public var first: ErrorOccurrence
        public var last: ErrorOccurrence
        public var count: Int
    }

    public static let capacity = 1000
    private let pending = NIOLockedValueBox<[String: Group]>([:])
    private let droppedCount = NIOLockedValueBox(0)
    /// Called once per occurrence (metrics).
    let onRecord: @Sendable (ErrorOccurrence) -> Void

    public init(onRecord: @escaping @Sendable (ErrorOccurrence) -> Void = { _ in }) {
        self.onRecord = onRecord
    }

    public func record(_ occurrence: ErrorOccurrence) {
        onRecord(occurrence)
        let fingerprint = occurrence.fingerprint
        let kept = pending.withLockedValue { groups -> Bool in
            if var group = groups[fingerprint] {
                group.last = occurrence
                group.count += 1
                groups[fingerprint] = group
                return true
            }
            guard groups.count < Self.capacity else { return false }
            groups[fingerprint] = Group(fingerprint: fingerprint, first: occurrence, last: occurrence, count: 1)
            return true
        }
        if !kept { droppedCount.withLockedValue { $0 += 1 } }
    }

    /// Everything recorded since the last call.
    public func drain() -> [Group] {
        pending.withLockedValue { groups in
            defer { groups.removeAll(keepingCapacity: true) }
            return groups.values.sorted { $0.first.at < $1.first.at }
        }
    }

    /// Puts groups back after a failed write (merged with what arrived meanwhile).
    func restore(_ groups: [Group]) {
        pending.withLockedValue { pending in
            for group in groups {
                if var newer = pending[group.fingerprint] {
                    newer.first = group.first
                    newer.count += group.count
                    pending[group.fingerprint] = newer
                } else if pending.count < Self.capacity {
                    pending[group.fingerprint] = group
                }
            }
        }
    }

    /// Occurrences dropped because ``capacity`` fingerprints were already waiting.
    public var dropped: Int { droppedCount.withLockedValue { $0 } }
}
