/// The closed vocabularies of the schema language: every key each kind of mapping accepts.
/// The parser rejects any other key, and ``SchemaJSONSchema`` is built from the same lists.
public enum SchemaVocabulary {
    /// Keys of a resource file (`schema/<table>.yaml`).
    public static let resourceKeys = [
        "resource", "description", "table", "path", "tenancy", "fields", "indexes", "sort",
        "operations", "scopes", "cache", "rate_limit", "events", "audit", "deprecated", "retention",
    ]

    /// Keys that describe a value: allowed on fields, on array `items` and on job payload fields.
    public static let valueSpecKeys = [
        "type", "min_length", "max_length", "pattern", "minimum", "maximum",
        "min_items", "max_items", "items", "values",
    ]

    /// Keys of a resource field.
    public static let fieldKeys = valueSpecKeys + [
        "required", "default", "nullable", "unique", "filter", "search", "read_only",
        "write_once", "pii", "references", "on_delete", "description", "example", "deprecated",
    ]

    /// Field keys that only make sense on a stored column, so job payload fields reject them.
    public static let columnOnlyFieldKeys = [
        "unique", "filter", "search", "read_only", "write_once", "references", "on_delete",
    ]

    /// Keys of a job payload field.
    public static let payloadFieldKeys = fieldKeys.filter { !columnOnlyFieldKeys.contains($0) }

    public static let indexKeys = ["fields", "unique", "where"]
    public static let scopesKeys = ["read", "write"]
    public static let cacheKeys = ["ttl", "stale_while_revalidate"]
    /// Keys of a resource's `retention`: exactly one of them.
    public static let retentionKeys = ["delete_after", "archive_after"]
    public static let rateLimitKeys = ["per_minute", "burst"]
    public static let deprecationKeys = ["sunset", "link"]

    /// Keys of `schema/jobs.yaml`.
    public static let jobsFileKeys = ["jobs", "schedules"]
    public static let jobKeys = [
        "description", "queue", "priority", "max_attempts", "backoff", "timeout", "unique_for", "payload",
    ]
    public static let backoffKeys = ["base", "cap"]
    public static let scheduleKeys = ["name", "job", "cron", "time_zone", "overlap"]

    /// Keys of `schema/api.yaml`.
    public static let apiKeys = ["title", "version", "description", "servers", "limits", "cors", "rate_limit", "graphql", "dependencies"]
    /// Keys of one entry of `dependencies` in api.yaml: an external service `/health/ready` probes.
    public static let dependencyKeys = ["name", "url", "interval", "timeout"]
    public static let graphQLKeys = ["max_depth", "max_complexity", "max_aliases", "max_document_size", "introspection"]
    public static let serverKeys = ["url", "description"]
    public static let limitsKeys = ["body_size", "page_size", "rpc_batch"]
    public static let pageSizeKeys = ["default", "max"]
    public static let corsKeys = ["allowed_origins", "allow_credentials", "max_age"]

    /// Columns every resource table has without declaring them.
    public static let implicitColumns = ["id", "workspace_id", "created_at", "updated_at", "version"]
    /// Column names the generator uses itself.
    public static let reservedColumns = ["search_vector"]
    /// `/v1/<path>` segments taken by built-in routes.
    public static let reservedPaths = ["auth", "jobs", "webhooks", "events", "admin", "graphql", "rpc"]
    /// Type names the GraphQL schema defines itself, which a resource's name (and so its
    /// object type, `<Name>Edge`, `<Name>Connection`, …) must not take.
    public static let reservedResourceNames: Set<String> = [
        "Query", "Mutation", "Subscription", "Node", "PageInfo", "Deleted", "DateTime", "Date", "JSON", "BigInt",
        "Event", "EventTopic", "Job", "JobState", "JobAttemptError", "JobEnqueueInput",
    ]
    /// Table-name prefix reserved for Trellis' own tables.
    public static let reservedTablePrefix = "trellis_"

    /// Spellings from other languages that map to a Trellis type, for better suggestions.
    static let typeAliases = [
        "int": "integer", "int64": "integer", "bigint": "integer", "bool": "boolean",
        "float": "number", "double": "number", "decimal": "number", "str": "string",
        "varchar": "string", "timestamp": "datetime", "timestamptz": "datetime", "date_time": "datetime",
        "json": "object", "jsonb": "object", "map": "object", "dict": "object", "list": "array",
        "uri": "url", "guid": "uuid",
    ]
}
