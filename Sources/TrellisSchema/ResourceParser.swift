import Yams

/// A resource file as far as it could be read, with what the cross-file checks need.
struct ParsedResource {
    var resource: Resource
    /// Where the name, table and path are reported in duplicate errors: the explicit value,
    /// else the `resource:` value they were derived from.
    var nameLocation: SourceLocation
    var tableLocation: SourceLocation
    var pathLocation: SourceLocation
    var references: [FieldReference]
}

/// Reads one resource file (`schema/<table>.yaml`).
struct ResourceParser {
    let reader: NodeReader

    /// Reports every problem in the file. Returns nil when the resource's identity (its name,
    /// hence table and path) could not be read, so that cross-file checks skip it.
    func parse(_ root: Node) -> ParsedResource? {
        guard let view = reader.mapping(root, what: "a resource file", allowed: SchemaVocabulary.resourceKeys) else {
            return nil
        }
        let nameEntry = reader.require("resource", in: view, what: "a resource file")
        let name = nameEntry.flatMap(resourceName)
        let description = view["description"].flatMap { reader.string($0.value, for: $0.label) }
        let table = readTable(view["table"], name: name, nameEntry: nameEntry)
        let path = readPath(view["path"], table: table)
        let tenancy = view["tenancy"].flatMap {
            reader.choice($0.value, Tenancy.self, noun: "tenancy", for: $0.label)
        } ?? .workspace

        var parsed = ParsedFields()
        if let entry = reader.require("fields", in: view, what: "a resource file") {
            parsed = FieldParser(reader: reader, context: .resource).parseFields(entry.value, what: "'fields'")
            if case let .mapping(mapping) = entry.value, mapping.isEmpty {
                reader.error("'fields' must declare at least one field", at: entry.value)
            }
        }
        let lists = ResourceListsParser(
            reader: reader, resourceName: name ?? "this resource", fields: parsed, tenancy: tenancy)
        let indexes = view["indexes"].map(lists.indexes) ?? []
        let sort = view["sort"].map(lists.sort) ?? ["created_at"]
        let operations = view["operations"].map(lists.operations) ?? [.list, .get, .create, .update, .delete]

        let scopes = readScopes(view["scopes"], table: table?.value ?? "resource")
        let cache = view["cache"].flatMap(readCache)
        let rateLimit = view["rate_limit"].flatMap { RateLimitParser(reader: reader).parse($0) }
        let events = view["events"].flatMap { reader.bool($0.value, for: $0.label) } ?? false
        let audit = view["audit"].flatMap { reader.bool($0.value, for: $0.label) } ?? false
        let deprecated = view["deprecated"].flatMap(readDeprecation)
        let retention = view["retention"].flatMap { readRetention($0, tenancy: tenancy) }

        guard let name, let nameEntry, let table, let path else { return nil }
        let resource = Resource(
            name: name, description: description, table: table.value, path: path.value, tenancy: tenancy,
            fields: parsed.fields, indexes: indexes, sort: sort, operations: operations, scopes: scopes,
            cache: cache, rateLimit: rateLimit, events: events, audit: audit, deprecated: deprecated, retention: retention,
            file: reader.file, location: reader.location(of: nameEntry.value))
        return ParsedResource(
            resource: resource, nameLocation: reader.location(of: nameEntry.value), tableLocation: table.location,
            pathLocation: path.location, references: parsed.references)
    }

    // MARK: - Identity

    private func resourceName(_ entry: MappingEntry) -> String? {
        guard let name = reader.string(entry.value, for: entry.label) else { return nil }
        guard ValueSyntax.isPascalCase(name) else {
            let words = name.split { !$0.isLetter && !$0.isNumber }
            let suggestion = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
            let hint = ValueSyntax.isPascalCase(suggestion) ? ", e.g. '\(suggestion)'" : ""
            reader.error("resource name '\(name)' must be PascalCase\(hint)", at: entry.value)
            return nil
        }
        if SchemaVocabulary.reservedResourceNames.contains(name) {
            reader.error("resource name '\(name)' is reserved: the GraphQL schema has a type of that name", at: entry.value)
            return nil
        }
        return name
    }

    private func readTable(
        _ entry: MappingEntry?, name: String?, nameEntry: MappingEntry?
    ) -> (value: String, location: SourceLocation)? {
        if let entry {
            guard let table = reader.string(entry.value, for: entry.label) else { return nil }
            guard checkTable(table, at: entry.value) else { return nil }
            return (table, reader.location(of: entry.value))
        }
        guard let name, let nameEntry else { return nil }
        let table = Naming.defaultTable(forResource: name)
        guard checkTable(table, at: nameEntry.value) else { return nil }
        return (table, reader.location(of: nameEntry.value))
    }

    private func checkTable(_ table: String, at node: Node) -> Bool {
        if !ValueSyntax.isSnakeCase(table) {
            reader.error(
                "table name '\(table)' must be snake_case: a lowercase letter followed by lowercase letters, digits or '_'",
                at: node)
            return false
        }
        if table.utf8.count > 63 {
            reader.error("table name '\(table)' is longer than 63 characters, PostgreSQL's limit", at: node)
            return false
        }
        if table.hasPrefix(SchemaVocabulary.reservedTablePrefix) {
            reader.error("table names starting with '\(SchemaVocabulary.reservedTablePrefix)' are reserved for Trellis",
                         at: node)
            return false
        }
        return true
    }

    private func readPath(
        _ entry: MappingEntry?, table: (value: String, location: SourceLocation)?
    ) -> (value: String, location: SourceLocation)? {
        guard let entry else {
            guard let table else { return nil }
            if SchemaVocabulary.reservedPaths.contains(table.value) {
                reader.error("path '\(table.value)' (the table name) is reserved for built-in routes; set 'path'",
                             at: table.location)
                return nil
            }
            return table
        }
        guard let path = reader.string(entry.value, for: entry.label) else { return nil }
        if !ValueSyntax.isPathSegment(path) {
            reader.error("path '\(path)' must be one URL segment of lowercase letters, digits, '-' and '_'",
                         at: entry.value)
            return nil
        }
        if SchemaVocabulary.reservedPaths.contains(path) {
            reader.error("path '\(path)' is reserved for built-in routes", at: entry.value)
            return nil
        }
        return (path, reader.location(of: entry.value))
    }

    // MARK: - Settings

    private func readScopes(_ entry: MappingEntry?, table: String) -> Scopes {
        var scopes = Scopes(read: "\(table):read", write: "\(table):write")
        guard let entry,
              let view = reader.mapping(entry.value, what: "'scopes'", allowed: SchemaVocabulary.scopesKeys)
        else { return scopes }
        func scope(_ key: String) -> String? {
            guard let option = view[key], let value = reader.string(option.value, for: option.label) else { return nil }
            guard !value.isEmpty, !value.contains(where: \.isWhitespace) else {
                reader.error("scope '\(value)' must be a non-empty word without spaces, e.g. '\(table):\(key)'",
                             at: option.value)
                return nil
            }
            return value
        }
        if let read = scope("read") { scopes.read = read }
        if let write = scope("write") { scopes.write = write }
        return scopes
    }

    private func readCache(_ entry: MappingEntry) -> CachePolicy? {
        guard let view = reader.mapping(entry.value, what: "'cache'", allowed: SchemaVocabulary.cacheKeys),
              let ttlEntry = reader.require("ttl", in: view, what: "'cache'", at: entry.keyNode),
              let ttl = reader.duration(ttlEntry.value, for: ttlEntry.label)
        else { return nil }
        guard ttl > 0 else {
            reader.error("'ttl' must be longer than zero; remove 'cache' to disable caching", at: ttlEntry.value)
            return nil
        }
        let stale = view["stale_while_revalidate"].flatMap { reader.duration($0.value, for: $0.label) } ?? 0
        return CachePolicy(ttl: ttl, staleWhileRevalidate: stale)
    }

    /// `retention: { delete_after: 90d }` or `{ archive_after: 30d }`: one of them, a day to 100 years.
    private func readRetention(_ entry: MappingEntry, tenancy: Tenancy) -> RetentionPolicy? {
        guard let view = reader.mapping(entry.value, what: "'retention'", allowed: SchemaVocabulary.retentionKeys) else { return nil }
        let given = SchemaVocabulary.retentionKeys.compactMap { key in view[key].map { (key, $0) } }
        guard given.count == 1, let (key, value) = given.first else {
            reader.error("'retention' takes exactly one of delete_after or archive_after", at: entry.value)
            return nil
        }
        guard let seconds = reader.duration(value.value, for: value.label) else { return nil }
        guard (RetentionPolicy.shortest...RetentionPolicy.longest).contains(seconds) else {
            reader.error("\(key) must be from 1d to 36500d, found \(seconds)s", at: value.value)
            return nil
        }
        guard tenancy == .workspace else {
            reader.error("'retention' needs tenancy: workspace (it runs in each workspace)", at: entry.keyNode)
            return nil
        }
        return RetentionPolicy(action: key == "delete_after" ? .delete : .archive, after: seconds)
    }

    private func readDeprecation(_ entry: MappingEntry) -> Deprecation? {
        guard let view = reader.mapping(entry.value, what: "'deprecated'", allowed: SchemaVocabulary.deprecationKeys),
              let sunsetEntry = reader.require("sunset", in: view, what: "'deprecated'", at: entry.keyNode),
              let sunset = reader.string(sunsetEntry.value, for: sunsetEntry.label)
        else { return nil }
        guard ValueSyntax.isDate(sunset) else {
            reader.error("'sunset' must be a date as YYYY-MM-DD, found '\(sunset)'", at: sunsetEntry.value)
            return nil
        }
        var link: String?
        if let linkEntry = view["link"], let value = reader.string(linkEntry.value, for: linkEntry.label) {
            guard ValueSyntax.isHTTPURL(value) else {
                reader.error("'link' must be an http or https URL, found '\(value)'", at: linkEntry.value)
                return nil
            }
            link = value
        }
        return Deprecation(sunset: sunset, link: link)
    }
}

/// Reads `rate_limit: { per_minute, burst }`, in a resource or in `api.yaml`.
struct RateLimitParser {
    let reader: NodeReader

    func parse(_ entry: MappingEntry) -> RateLimit? {
        guard let view = reader.mapping(entry.value, what: "'rate_limit'", allowed: SchemaVocabulary.rateLimitKeys)
        else { return nil }
        let perMinute = reader.require("per_minute", in: view, what: "'rate_limit'", at: entry.keyNode)
            .flatMap { reader.integer($0.value, for: $0.label, atLeast: 1) }
        let burst = reader.require("burst", in: view, what: "'rate_limit'", at: entry.keyNode)
            .flatMap { reader.integer($0.value, for: $0.label, atLeast: 1) }
        guard let perMinute, let burst else { return nil }
        return RateLimit(perMinute: perMinute, burst: burst)
    }
}
