import Foundation

/// JSON Schemas (draft 2020-12) of the three kinds of schema file, for editors
/// (e.g. yaml-language-server: `schema/api.yaml` → ``apiFile``, `schema/jobs.yaml` → ``jobsFile``,
/// every other `schema/*.yaml` → ``resourceFile``). Built from ``SchemaVocabulary``, the same
/// key lists the parser enforces, and closed with `additionalProperties: false`.
///
/// The schemas check shapes and spellings; the loader checks everything else (applicability of
/// options, defaults against constraints, cross-file references, cron fields).
public enum SchemaJSONSchema {
    /// The schema of a resource file, as pretty-printed JSON with sorted keys.
    public static var resourceFile: String {
        render(document(title: "Trellis resource", root: object(SchemaVocabulary.resourceKeys, required: ["resource", "fields"], [
            "resource": ["type": "string", "pattern": "^[A-Z][A-Za-z0-9]*$"],
            "description": string,
            "table": ["type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 63],
            "path": ["type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"],
            "tenancy": ["enum": Tenancy.allCases.map(\.rawValue)],
            "fields": fieldsMap(ref: "#/$defs/field", minProperties: 1),
            "indexes": ["type": "array", "items": object(SchemaVocabulary.indexKeys, required: ["fields"], [
                "fields": ["type": "array", "minItems": 1, "items": [
                    "type": "string", "pattern": "^[a-z][a-z0-9_]*( +(asc|desc|ASC|DESC))?$",
                ]],
                "unique": boolean,
                "where": string,
            ])],
            "sort": ["type": "array", "items": ["type": "string"], "uniqueItems": true],
            "operations": ["type": "array", "minItems": 1, "uniqueItems": true,
                           "items": ["enum": Operation.allCases.map(\.rawValue)]],
            "scopes": object(SchemaVocabulary.scopesKeys, ["read": string, "write": string]),
            "cache": object(SchemaVocabulary.cacheKeys, required: ["ttl"], [
                "ttl": duration, "stale_while_revalidate": duration,
            ]),
            "rate_limit": rateLimit,
            "events": boolean,
            "audit": boolean,
            "retention": object(SchemaVocabulary.retentionKeys, [
                "delete_after": duration, "archive_after": duration,
            ]).merging(["minProperties": 1, "maxProperties": 1]) { _, new in new },
            "deprecated": object(SchemaVocabulary.deprecationKeys, required: ["sunset"], [
                "sunset": ["type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"],
                "link": ["type": "string", "format": "uri"],
            ]),
        ]), defs: [
            "field": fieldSchema(SchemaVocabulary.fieldKeys),
            "valueSpec": fieldSchema(SchemaVocabulary.valueSpecKeys),
        ]))
    }

    /// The schema of `schema/jobs.yaml`.
    public static var jobsFile: String {
        render(document(title: "Trellis jobs", root: object(SchemaVocabulary.jobsFileKeys, [
            "jobs": [
                "type": "object",
                "propertyNames": ["pattern": "^[a-z][a-z0-9_]*$", "maxLength": 63],
                "additionalProperties": object(SchemaVocabulary.jobKeys, [
                    "description": string,
                    "queue": ["type": "string", "pattern": "^[a-z][a-z0-9_-]*$"],
                    "priority": integer,
                    "max_attempts": ["type": "integer", "minimum": 1],
                    "backoff": object(SchemaVocabulary.backoffKeys, ["base": duration, "cap": duration]),
                    "timeout": duration,
                    "unique_for": duration,
                    "payload": fieldsMap(ref: "#/$defs/payloadField", minProperties: 0),
                ]),
            ],
            "schedules": ["type": "array", "items": object(SchemaVocabulary.scheduleKeys, required: ["job", "cron"], [
                "name": string, "job": string, "cron": string, "time_zone": string,
                "overlap": ["type": "string", "enum": Schedule.Overlap.allCases.map(\.rawValue)],
            ])],
        ]), defs: [
            "payloadField": fieldSchema(SchemaVocabulary.payloadFieldKeys),
            "valueSpec": fieldSchema(SchemaVocabulary.valueSpecKeys),
        ]))
    }

    /// The schema of `schema/api.yaml`.
    public static var apiFile: String {
        render(document(title: "Trellis API settings", root: object(SchemaVocabulary.apiKeys, [
            "title": string,
            "version": string,
            "description": string,
            "servers": ["type": "array", "items": object(SchemaVocabulary.serverKeys, required: ["url"], [
                "url": string, "description": string,
            ])],
            "limits": object(SchemaVocabulary.limitsKeys, [
                "body_size": ["anyOf": [
                    ["type": "integer", "minimum": 1],
                    ["type": "string", "pattern": "^[0-9.]+ *([bB]|[kKmMgG][iI]?[bB])?$"],
                ]],
                "page_size": object(SchemaVocabulary.pageSizeKeys, [
                    "default": ["type": "integer", "minimum": 1, "maximum": 1000],
                    "max": ["type": "integer", "minimum": 1, "maximum": 1000],
                ]),
                "rpc_batch": ["type": "integer", "minimum": 1, "maximum": APISettings.largestRPCBatch],
            ]),
            "graphql": object(SchemaVocabulary.graphQLKeys, [
                "max_depth": ["type": "integer", "minimum": 1, "maximum": 100],
                "max_complexity": ["type": "integer", "minimum": 1, "maximum": 10_000_000],
                "max_aliases": ["type": "integer", "minimum": 0, "maximum": 10_000],
                "max_document_size": ["anyOf": [
                    ["type": "integer", "minimum": 1],
                    ["type": "string", "pattern": "^[0-9.]+ *([bB]|[kKmMgG][iI]?[bB])?$"],
                ]],
                "introspection": boolean,
            ]),
            "cors": object(SchemaVocabulary.corsKeys, [
                "allowed_origins": ["type": "array", "items": ["type": "string"]],
                "allow_credentials": boolean,
                "max_age": duration,
            ]),
            "rate_limit": rateLimit,
            "dependencies": ["type": "array", "items": object(SchemaVocabulary.dependencyKeys, required: ["name", "url"], [
                "name": ["type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 63],
                "url": ["type": "string", "pattern": "^https?://"],
                "interval": duration,
                "timeout": duration,
            ])],
        ]), defs: [:]))
    }

    // MARK: - Building blocks

    private static var string: [String: Any] { ["type": "string"] }
    private static var boolean: [String: Any] { ["type": "boolean"] }
    private static var integer: [String: Any] { ["type": "integer"] }
    private static var duration: [String: Any] {
        ["anyOf": [["type": "integer", "minimum": 0], ["type": "string", "pattern": "^[0-9]+[smhd]?$"]]]
    }
    private static var rateLimit: [String: Any] {
        object(SchemaVocabulary.rateLimitKeys, required: ["per_minute", "burst"], [
            "per_minute": ["type": "integer", "minimum": 1], "burst": ["type": "integer", "minimum": 1],
        ])
    }

    /// Schemas of every field and value-spec key; `fieldSchema` picks the ones a vocabulary allows.
    private static var fieldOptions: [String: Any] {
        let length: [String: Any] = ["type": "integer", "minimum": 0]
        return [
            "type": ["enum": FieldType.names],
            "min_length": length, "max_length": length, "min_items": length, "max_items": length,
            "pattern": ["type": "string", "format": "regex"],
            "minimum": ["type": "number"], "maximum": ["type": "number"],
            "items": ["$ref": "#/$defs/valueSpec"],
            "values": ["type": "array", "minItems": 1, "uniqueItems": true,
                       "items": ["type": "string", "pattern": "^[a-z][a-z0-9_]*$"]],
            "required": boolean, "nullable": boolean, "unique": boolean, "filter": boolean,
            "read_only": boolean, "write_once": boolean, "pii": boolean, "deprecated": boolean,
            "default": [String: Any](), "example": [String: Any](),
            "search": ["enum": SearchWeight.allCases.map(\.rawValue)],
            "references": ["type": "string", "pattern": "^[a-z][a-z0-9_]*$"],
            "on_delete": ["enum": OnDelete.allCases.map(\.rawValue)],
            "description": string,
        ]
    }

    private static func fieldSchema(_ keys: [String]) -> [String: Any] {
        var properties: [String: Any] = [:]
        for key in keys { properties[key] = fieldOptions[key] }
        return ["type": "object", "required": ["type"], "additionalProperties": false, "properties": properties]
    }

    private static func fieldsMap(ref: String, minProperties: Int) -> [String: Any] {
        [
            "type": "object", "minProperties": minProperties,
            "propertyNames": ["pattern": "^[a-z][a-z0-9_]*$", "maxLength": 63],
            "additionalProperties": ["$ref": ref],
        ]
    }

    /// A closed object whose properties are exactly `keys`.
    private static func object(_ keys: [String], required: [String] = [], _ schemas: [String: Any]) -> [String: Any] {
        var properties: [String: Any] = [:]
        for key in keys { properties[key] = schemas[key] ?? [String: Any]() }
        var result: [String: Any] = ["type": "object", "additionalProperties": false, "properties": properties]
        if !required.isEmpty { result["required"] = required }
        return result
    }

    private static func document(title: String, root: [String: Any], defs: [String: Any]) -> [String: Any] {
        var result = root
        result["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        result["title"] = title
        if !defs.isEmpty { result["$defs"] = defs }
        return result
    }

    private static func render(_ document: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(
            withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
            let text = String(data: data, encoding: .utf8)
        else { return "{}" }
        return text + "\n"
    }
}
