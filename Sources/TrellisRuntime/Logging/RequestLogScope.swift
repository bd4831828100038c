import Logging

/// What every log line written while a request runs says about it: its id and, once the
/// caller is authenticated, their workspace and credential. ``RequestIDMiddleware`` and
/// ``AuthenticationMiddleware`` bind it for the request's task (and so its child tasks);
/// ``JSONLogHandler`` reads it only when it writes a line.
///
/// Why a task-local and not the logger's metadata: setting a metadata key copies the
/// logger's storage and its dictionary whenever the context was copied, which every
/// middleware does; four keys a request cost about as much as writing the access log line
/// (4% of a cached `get`'s CPU; Benchmarks/README.md, "Log metadata"). A bound scope costs
/// one task-local record.
public struct RequestLogScope: Sendable {
    public var requestID: String
    public var identity: Identity?

    @TaskLocal public static var current: RequestLogScope?

    /// The keys this scope adds to a line.
    var keys: [String] {
        identity == nil ? ["request_id"] : ["credential_id", "request_id", "workspace"]
    }

    /// The value of `key` (one of ``keys``); nil for another key.
    func value(_ key: String) -> String? {
        switch key {
        case "request_id": requestID
        case "workspace": identity?.workspaceID.lowercasedString
        case "credential_id": identity?.actor
        default: nil
        }
    }

    /// The same values as logger metadata, for a log handler other than ``JSONLogHandler``
    /// (`LoggingSystem.bootstrap(_:metadataProvider:)`).
    public static let metadataProvider = Logger.MetadataProvider {
        guard let scope = current else { return [:] }
        var metadata: Logger.Metadata = [:]
        for key in scope.keys { metadata[key] = scope.value(key).map(Logger.MetadataValue.string) }
        return metadata
    }
}
