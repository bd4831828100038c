import OpenAPIKit

extension OpenAPIGenerator.KeyManagementPaths {
    /// The grouped errors of `/v1/admin/errors` (error tracking).
    enum ErrorSchemas {
        typealias Values = OpenAPIGenerator.JSONValues

        static let fingerprintExample = "3f9a1c07d2b84e5f96a0c1d2e3f4a5b6c7d8e9f00112233445566778899aabbc"

        static let errorExample: [String: AnyCodable] = [
            "fingerprint": AnyCodable(fingerprintExample), "object": AnyCodable("error"), "kind": AnyCodable("request"),
            "error_type": AnyCodable("PSQLError"), "location": AnyCodable("/v1/agents/{id}"),
            "frame": AnyCodable("TrellisRuntime/AuditLog.swift:31"), "detail": AnyCodable("SQLSTATE 23514"),
            "occurrences": AnyCodable(12), "first_seen": AnyCodable(Values.exampleTimestamp), "last_seen": AnyCodable(Values.exampleTimestamp),
            "sample_request_id": AnyCodable("req_01a23614430d19356732be0000000004"), "sample_trace_id": AnyCodable(nil as String?),
            "resolved": AnyCodable(false), "resolved_at": AnyCodable(nil as String?), "reopened": AnyCodable(0),
        ]

        static func schemas(list: (String) -> JSONSchema) -> [(name: String, schema: JSONSchema)] {
            let timestamp = JSONSchema.string(format: .dateTime)
            let error = JSONSchema.object(
                description: "5xx responses or failed job attempts that share a fingerprint. Holds no message and no value of a request or row.",
                properties: [
                    "fingerprint": .string(description: "Lowercase hex SHA-256 of kind, error type, location, frame and detail.", pattern: "^[0-9a-f]{64}$"),
                    "object": .string(allowedValues: [AnyCodable("error")]),
                    "kind": .string(allowedValues: [AnyCodable("request"), AnyCodable("job")]),
                    "error_type": .string(description: "The error's type (`PSQLError`, `Problem`, a Swift type name)."),
                    "location": .string(description: "The route template, or the job type."),
                    "frame": .string(description: "Where in Trellis's code it was raised, when the error records it (a query's file and line); empty otherwise."),
                    "detail": .string(description: "The error's code: a SQLSTATE, a problem code; never its message."),
                    "occurrences": .integer(description: "How often it happened."),
                    "first_seen": timestamp,
                    "last_seen": timestamp,
                    "sample_request_id": .string(nullable: true, description: "The last occurrence's request id (`job_<id>` for a job), to find it in the logs."),
                    "sample_trace_id": .string(nullable: true),
                    "resolved": .boolean,
                    "resolved_at": .string(format: .dateTime, nullable: true),
                    "reopened": .integer(description: "How often it happened again after being resolved."),
                ])
            return [("TrackedError", error), ("TrackedErrorList", list("TrackedError"))]
        }
    }
}
