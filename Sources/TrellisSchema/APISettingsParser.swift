import Foundation
import Yams

/// Reads `schema/api.yaml`: API-wide settings. Missing keys keep ``APISettings``' defaults.
struct APISettingsParser {
    let reader: NodeReader

    func parse(_ root: Node) -> APISettings {
        var settings = APISettings()
        guard let view = reader.mapping(root, what: "api.yaml", allowed: SchemaVocabulary.apiKeys) else {
            return settings
        }
        if let entry = view["title"], let title = nonEmptyString(entry) { settings.title = title }
        if let entry = view["version"], let version = nonEmptyString(entry) { settings.version = version }
        settings.description = view["description"].flatMap { reader.string($0.value, for: $0.label) }
        if let entry = view["servers"], let items = reader.sequence(entry.value, for: entry.label) {
            settings.servers = items.compactMap(server)
        }
        if let entry = view["limits"] { readLimits(entry, into: &settings) }
        if let entry = view["cors"], let cors = readCORS(entry) { settings.cors = cors }
        if let entry = view["graphql"] { readGraphQL(entry, into: &settings.graphQL) }
        if let entry = view["rate_limit"], let limit = RateLimitParser(reader: reader).parse(entry) {
            settings.rateLimit = limit
        }
        if let entry = view["dependencies"], let items = reader.sequence(entry.value, for: entry.label) {
            var names = Set<String>()
            for item in items {
                guard let dependency = dependency(item) else { continue }
                guard names.insert(dependency.name).inserted else {
                    reader.error("dependency '\(dependency.name)' is listed twice", at: item)
                    continue
                }
                settings.dependencies.append(dependency)
            }
        }
        return settings
    }

    /// One `dependencies` entry: `{ name: ai_provider, url: https://…/health, interval: 30s, timeout: 5s }`.
    private func dependency(_ node: Node) -> DependencySettings? {
        guard let view = reader.mapping(node, what: "a dependency", allowed: SchemaVocabulary.dependencyKeys),
              let nameEntry = reader.require("name", in: view, what: "a dependency"),
              let urlEntry = reader.require("url", in: view, what: "a dependency"),
              let name = reader.string(nameEntry.value, for: nameEntry.label),
              let url = reader.string(urlEntry.value, for: urlEntry.label)
        else { return nil }
        var valid = true
        if !ValueSyntax.isSnakeCase(name) || name.count > 63 {
            reader.error("dependency name '\(name)' must be snake_case (a-z, 0-9, _; starting with a letter), at most 63 characters", at: nameEntry.value)
            valid = false
        }
        if !ValueSyntax.isHTTPURL(url) {
            reader.error("dependency url '\(url)' must be an http or https URL", at: urlEntry.value)
            valid = false
        }
        var dependency = DependencySettings(name: name, url: url)
        for (key, range, path) in [("interval", 5...3600, \DependencySettings.interval), ("timeout", 1...60, \DependencySettings.timeout)] {
            guard let entry = view[key] else { continue }
            guard let seconds = reader.duration(entry.value, for: entry.label) else {
                valid = false
                continue
            }
            guard range.contains(seconds) else {
                reader.error("\(key) must be from \(range.lowerBound)s to \(range.upperBound)s, found \(seconds)s", at: entry.value)
                valid = false
                continue
            }
            dependency[keyPath: path] = seconds
        }
        if valid, dependency.timeout >= dependency.interval {
            reader.error("timeout (\(dependency.timeout)s) must be shorter than interval (\(dependency.interval)s)", at: node)
            valid = false
        }
        return valid ? dependency : nil
    }

    private func nonEmptyString(_ entry: MappingEntry) -> String? {
        guard let value = reader.string(entry.value, for: entry.label) else { return nil }
        guard !value.trimmingCharacters(in: .whitespaces).isEmpty else {
            reader.error("\(entry.label) must not be empty", at: entry.value)
            return nil
        }
        return value
    }

    private func server(_ node: Node) -> ServerEntry? {
        guard let view = reader.mapping(node, what: "a server", allowed: SchemaVocabulary.serverKeys),
              let urlEntry = reader.require("url", in: view, what: "a server"),
              let url = reader.string(urlEntry.value, for: urlEntry.label)
        else { return nil }
        let description = view["description"].flatMap { reader.string($0.value, for: $0.label) }
        guard ValueSyntax.isHTTPURL(url) || (url.hasPrefix("/") && !url.contains(where: \.isWhitespace)) else {
            reader.error("server url '\(url)' must be an http or https URL, or a path starting with '/'",
                         at: urlEntry.value)
            return nil
        }
        return ServerEntry(url: url, description: description)
    }

    private func readLimits(_ entry: MappingEntry, into settings: inout APISettings) {
        guard let view = reader.mapping(entry.value, what: "'limits'", allowed: SchemaVocabulary.limitsKeys) else {
            return
        }
        if let sizeEntry = view["body_size"], let size = bodySize(sizeEntry) { settings.maxBodySize = size }
        if let batchEntry = view["rpc_batch"], let batch = reader.integer(batchEntry.value, for: batchEntry.label, atLeast: 1) {
            if batch > APISettings.largestRPCBatch {
                reader.error("rpc_batch must be at most \(APISettings.largestRPCBatch) calls, found \(batch)", at: batchEntry.value)
            } else {
                settings.rpcMaxBatch = batch
            }
        }
        guard let pageEntry = view["page_size"],
              let page = reader.mapping(pageEntry.value, what: "'page_size'", allowed: SchemaVocabulary.pageSizeKeys)
        else { return }
        let defaultSize = page["default"].flatMap { reader.integer($0.value, for: $0.label, atLeast: 1) }
        let maxSize = page["max"].flatMap { reader.integer($0.value, for: $0.label, atLeast: 1) }
        if let maxEntry = page["max"], let maxSize, maxSize > 1000 {
            reader.error("page_size 'max' must be at most 1000, found \(maxSize)", at: maxEntry.value)
            return
        }
        if (page["default"] != nil && defaultSize == nil) || (page["max"] != nil && maxSize == nil) { return }
        let newDefault = defaultSize ?? settings.defaultPageSize
        let newMax = maxSize ?? settings.maxPageSize
        guard newDefault <= newMax else {
            let node = page["default"]?.value ?? pageEntry.value
            reader.error("page_size 'default' (\(newDefault)) is larger than 'max' (\(newMax))", at: node)
            return
        }
        settings.defaultPageSize = newDefault
        settings.maxPageSize = newMax
    }

    private func readGraphQL(_ entry: MappingEntry, into settings: inout GraphQLSettings) {
        guard let view = reader.mapping(entry.value, what: "'graphql'", allowed: SchemaVocabulary.graphQLKeys) else { return }
        func bounded(_ key: String, _ range: ClosedRange<Int>) -> Int? {
            guard let item = view[key], let value = reader.integer(item.value, for: item.label, atLeast: range.lowerBound) else { return nil }
            guard value <= range.upperBound else {
                reader.error("graphql \(key) must be at most \(range.upperBound), found \(value)", at: item.value)
                return nil
            }
            return value
        }
        if let value = bounded("max_depth", 1...100) { settings.maxDepth = value }
        if let value = bounded("max_complexity", 1...10_000_000) { settings.maxComplexity = value }
        if let value = bounded("max_aliases", 0...10_000) { settings.maxAliases = value }
        if let item = view["max_document_size"] {
            let node = item.value
            var bytes: Int?
            if node.scalarKind == .integer { bytes = node.intValue }
            if node.scalarKind == .string, let text = node.scalarText { bytes = ValueSyntax.byteSize(text) }
            if let bytes, bytes > 0, bytes <= 1 << 20 {
                settings.maxDocumentSize = bytes
            } else {
                reader.error("graphql max_document_size \(node.quotedText) must be a size from 1 byte to 1MiB, such as 32KiB", at: node)
            }
        }
        if let item = view["introspection"], let flag = reader.bool(item.value, for: item.label) { settings.introspection = flag }
    }

    private func bodySize(_ entry: MappingEntry) -> Int? {
        let node = entry.value
        var bytes: Int?
        if node.scalarKind == .integer { bytes = node.intValue }
        if node.scalarKind == .string, let text = node.scalarText { bytes = ValueSyntax.byteSize(text) }
        guard let bytes, bytes > 0 else {
            reader.error(
                "invalid body_size \(node.quotedText): use a number of bytes or a size such as 512KiB, 1MiB, 2MB",
                at: node)
            return nil
        }
        guard bytes <= APISettings.largestBodySize else {
            reader.error(
                "body_size \(node.quotedText) is over the largest allowed, 16MiB: a JSON API parses each body in memory",
                at: node)
            return nil
        }
        return bytes
    }

    private func readCORS(_ entry: MappingEntry) -> CORSSettings? {
        guard let view = reader.mapping(entry.value, what: "'cors'", allowed: SchemaVocabulary.corsKeys) else {
            return nil
        }
        var cors = CORSSettings()
        var valid = true
        if let originsEntry = view["allowed_origins"] {
            if let items = reader.sequence(originsEntry.value, for: originsEntry.label) {
                for item in items {
                    guard let origin = reader.string(item, for: "an origin") else {
                        valid = false
                        continue
                    }
                    guard origin == "*" || isOrigin(origin) else {
                        reader.error("origin '\(origin)' must be '*' or scheme://host[:port] without a path",
                                     at: item)
                        valid = false
                        continue
                    }
                    cors.allowedOrigins.append(origin)
                }
            } else {
                valid = false
            }
        }
        if let credentials = view["allow_credentials"] {
            if let value = reader.bool(credentials.value, for: credentials.label) {
                cors.allowCredentials = value
                if value, cors.allowedOrigins.contains("*") {
                    reader.error("'allow_credentials' cannot be used with the '*' origin; list the origins",
                                 at: credentials.value)
                    valid = false
                }
            } else {
                valid = false
            }
        }
        if let maxAge = view["max_age"] {
            if let seconds = reader.duration(maxAge.value, for: maxAge.label) { cors.maxAge = seconds } else {
                valid = false
            }
        }
        return valid ? cors : nil
    }

    private func isOrigin(_ text: String) -> Bool {
        guard ValueSyntax.isHTTPURL(text), let url = URL(string: text) else { return false }
        return (url.path.isEmpty || url.path == "/") && !text.hasSuffix("/") && url.query == nil
    }
}
