import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Writes one JSON object per line to standard output (or `fileDescriptor`): timestamp,
/// level, message, metadata and, inside a request, its ``RequestLogScope`` (request id,
/// workspace, credential). Metadata keys named like secrets are redacted; Hummingbird's own
/// `hb.request.id` is left out (it would only repeat `request_id` in every line).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let fileDescriptor: Int32

    /// `fileDescriptor` is where lines go: standard output unless a benchmark or a test says otherwise.
    public init(label: String, level: Logger.Level = .info, fileDescriptor: Int32 = 1) {
        self.label = label
        self.logLevel = level
        self.fileDescriptor = fileDescriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let secretKeys: Set<String> = ["password", "authorization", "token", "secret", "api_key", "database_url"]

    public func log(event: LogEvent) {
        var w = JSONWriter(capacity: 384)
        w.beginObject()
        w.key("timestamp"); w.value(Date())
        w.key("level"); w.value(event.level.rawValue)
        w.key("logger"); w.value(label)
        w.key("message"); w.value(event.message.description)
        // The keys of all three, sorted, the event's value winning, then the logger's, then the
        // request scope's: no merged copy of the dictionaries.
        let extra = event.metadata ?? [:]
        let scope = RequestLogScope.current
        var keys = Array(extra.keys)
        keys.reserveCapacity(extra.count + metadata.count + 3)
        for key in metadata.keys where extra[key] == nil && key != "hb.request.id" { keys.append(key) }
        if let scope {
            for key in scope.keys where extra[key] == nil && metadata[key] == nil { keys.append(key) }
        }
        keys.sort()
        for key in keys {
            w.key(key)
            if Self.isSecret(key) {
                w.value("[redacted]")
            } else if let value = extra[key] ?? metadata[key] {
                Self.writeValue(value, to: &w)
            } else if let value = scope?.value(key) {
                w.value(value)
            } else {
                w.null()
            }
        }
        w.endObject()
        write(w)
    }

    /// Writes a request's access line: the very line ``log(event:)`` writes for
    /// `logger.info("request", metadata: [method, route, status, duration_ms])` inside `scope`,
    /// built straight into the writer, without the metadata dictionary, the merged and sorted
    /// key list or a task-local bound for the line (together about 2% of a `get`'s CPU).
    /// False, and nothing written, when the logger has metadata of its own (a trace id): the
    /// caller then logs the usual way.
    func logRequest(method: String, route: String, status: Int, durationMilliseconds: Double, scope: RequestLogScope) -> Bool {
        guard metadata.isEmpty || (metadata.count == 1 && metadata["hb.request.id"] != nil) else { return false }
        var w = JSONWriter(capacity: 384)
        w.beginObject()
        w.key("timestamp"); w.value(Date())
        w.key("level"); w.value(Logger.Level.info.rawValue)
        w.key("logger"); w.value(label)
        w.key("message"); w.value("request")
        // The keys in the order log(event:) sorts them into.
        if let identity = scope.identity {
            w.key("credential_id"); w.value(identity.actor)
        }
        w.key("duration_ms"); w.value(durationMilliseconds)
        w.key("method"); w.value(method)
        w.key("request_id"); w.value(scope.requestID)
        w.key("route"); w.value(route)
        w.key("status"); w.value(Int64(status))
        if let identity = scope.identity {
            w.key("workspace"); w.value(identity.workspaceID.lowercasedString)
        }
        w.endObject()
        write(w)
        return true
    }

    /// One write(2) per line keeps lines from interleaving across threads.
    private func write(_ w: JSONWriter) {
        var bytes = w.bytes
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }

    /// Whether `key` names a secret, in any case; lowercase keys (nearly all) are looked up
    /// as they are, without a lowercased copy.
    static func isSecret(_ key: String) -> Bool {
        if secretKeys.contains(key) { return true }
        guard key.utf8.contains(where: { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else { return false }
        return secretKeys.contains(key.lowercased())
    }

    static func writeValue(_ value: Logger.Metadata.Value, to w: inout JSONWriter) {
        switch value {
        case let .string(s): w.value(s)
        case let .stringConvertible(c):
            // The common concrete types first: a cast to a protocol existential costs more.
            if let i = c as? Int {
                w.value(Int64(i))
            } else if let d = c as? Double {
                w.value(d)
            } else if let i = c as? any BinaryInteger {
                // An integer beyond Int64 (a UInt64 above Int64.max) is still a JSON number: its digits.
                if let exact = Int64(exactly: i) { w.value(exact) } else { w.raw(Array(i.description.utf8)) }
            } else {
                w.value(c.description)
            }
        case let .array(items):
            w.beginArray()
            for item in items { writeValue(item, to: &w) }
            w.endArray()
        case let .dictionary(dict):
            w.beginObject()
            for key in dict.keys.sorted() {
                w.key(key)
                writeValue(dict[key]!, to: &w)
            }
            w.endObject()
        }
    }
}

