import TrellisSchema

/// Emits each resource's runtime descriptor and table DDL, and the ``APIDefinition`` that
/// hands everything to the runtime.
enum DescriptorEmitter {
    static func emit(_ model: ResourceModel, ddl: TableDDL, into w: inout SwiftWriter) {
        let r = model.resource
        w.line("// MARK: - \(r.name)")
        w.line()
        w.block("extension \(r.name)") { w in
            w.line("public static let descriptor = ResourceDescriptor(")
            w.indented { w in
                w.line("name: \(SwiftNaming.literal(r.name)),")
                w.line("table: \(SwiftNaming.literal(r.table)),")
                w.line("path: \(SwiftNaming.literal(r.path)),")
                w.line("operations: [" + r.operations.sorted().map { "." + $0.rawValue }.joined(separator: ", ") + "],")
                w.line("columns: [")
                w.indented { w in
                    for column in ResourceModel.implicitColumns {
                        w.line("ColumnDescriptor(\(SwiftNaming.literal(column.name)), \(SwiftNaming.literal(column.sqlType))),")
                    }
                    for f in model.fields {
                        w.line("ColumnDescriptor(\(SwiftNaming.literal(f.name)), \(SwiftNaming.literal(f.mapping.sqlType))),")
                    }
                }
                w.line("],")
                w.line("insertColumns: [")
                w.indented { w in
                    for f in model.fields {
                        w.line("ColumnDescriptor(\(SwiftNaming.literal(f.name)), \(SwiftNaming.literal(f.mapping.sqlType))),")
                    }
                }
                w.line("],")
                w.line("sortKeys: \(model.sortKeyName).allCases.map(\\.rawValue),")
                let unique = ddl.constraints.filter { $0.name.hasSuffix("_key") && $0.name != "\(r.table)_workspace_id_id_key" }
                w.line("uniqueConstraints: " + dictionary(unique.map { ($0.name, String($0.name.dropFirst(r.table.count + 1).dropLast(4))) }) + ",")
                let foreign = ddl.constraints.filter(\.isForeignKey)
                w.line("foreignKeys: " + dictionary(foreign.map { ($0.name, String($0.name.dropFirst(r.table.count + 1).dropLast(5))) }) + ",")
                w.line("references: " + dictionary(r.fields.compactMap { field in field.references.map { (field.name, $0) } }) + ",")
                w.line("readScope: \(SwiftNaming.literal(r.scopes.read)),")
                w.line("writeScope: \(SwiftNaming.literal(r.scopes.write)),")
                w.line("audited: \(r.audit),")
                if r.events { w.line("events: true,") }
                if let limit = r.rateLimit {
                    w.line("rateLimit: RateLimitPolicy(perMinute: \(limit.perMinute), burst: \(limit.burst)),")
                }
                if let cache = r.cache {
                    w.line("cache: ReadCachePolicy(ttlSeconds: \(cache.ttl), staleWhileRevalidateSeconds: \(cache.staleWhileRevalidate)),")
                }
                let pii = "piiFields: [" + model.fields.filter { $0.field.pii }.map { SwiftNaming.literal($0.name) }.joined(separator: ", ") + "]"
                if let deprecation = r.deprecated {
                    w.line(pii + ",")
                    let link = deprecation.link.map { ", link: " + SwiftNaming.literal($0) } ?? ""
                    w.line("deprecation: ResourceDeprecation(sunset: \(SwiftNaming.literal(deprecation.sunset))\(link))")
                } else {
                    w.line(pii)
                }
            }
            w.line(")")
            w.line()
            w.line("/// The DDL `trellis migrate plan` compares with the database.")
            w.line("public static let table = TableSpec(")
            w.indented { w in
                w.line("name: \(SwiftNaming.literal(ddl.table)),")
                w.line("columns: [")
                w.indented { w in
                    for c in ddl.columns {
                        w.line("TableSpec.Column(name: \(SwiftNaming.literal(c.name)), definition: \(SwiftNaming.literal(c.definition))),")
                    }
                }
                w.line("],")
                w.line("constraints: [")
                w.indented { w in
                    for c in ddl.constraints {
                        w.line("TableSpec.Constraint(name: \(SwiftNaming.literal(c.name)), definition: \(SwiftNaming.literal(c.definition)), isForeignKey: \(c.isForeignKey)),")
                    }
                }
                w.line("],")
                w.line("indexes: [")
                w.indented { w in
                    for i in ddl.indexes {
                        w.line("TableSpec.Index(name: \(SwiftNaming.literal(i.name)), create: \(SwiftNaming.literal(i.create))),")
                    }
                }
                w.line("],")
                w.line("policies: [")
                w.indented { w in
                    for p in ddl.policies {
                        w.line("TableSpec.Policy(name: \(SwiftNaming.literal(p.name)), create: \(SwiftNaming.literal(p.create))),")
                    }
                }
                w.line("],")
                w.line("triggers: [")
                w.indented { w in
                    for t in ddl.triggers {
                        w.line("TableSpec.Trigger(name: \(SwiftNaming.literal(t.name)), create: \(SwiftNaming.literal(t.create))),")
                    }
                }
                w.line("]")
            }
            w.line(")")
        }
    }

    static func emitAPI(_ schema: SchemaModel, tables: [TableDDL], into w: inout SwiftWriter) {
        let byTable = Dictionary(uniqueKeysWithValues: schema.resources.map { ($0.table, $0.name) })
        w.line("/// Everything generated from `schema/`, for `TrellisServer` and `trellis migrate plan`.")
        w.block("public enum GeneratedAPI") { w in
            w.line("public static let definition = APIDefinition(")
            w.indented { w in
                w.line("resources: [")
                w.indented { w in
                    for r in schema.resources {
                        w.line("RegisteredResource(\(r.name).self),")
                    }
                }
                w.line("],")
                w.line("openAPIJSON: GeneratedOpenAPI.json,")
                w.line("openAPIYAML: GeneratedOpenAPI.yaml,")
                w.line("openRPCJSON: GeneratedOpenAPI.openRPC,")
                w.line("graphQLSDL: GeneratedOpenAPI.graphQL,")
                let g = schema.api.graphQL
                w.line("graphQLLimits: GraphQLLimits(maxDocumentBytes: \(g.maxDocumentSize), maxDepth: \(g.maxDepth), maxAliases: \(g.maxAliases), maxComplexity: \(g.maxComplexity), introspection: \(g.introspection)),")
                w.line("maxBodySize: \(schema.api.maxBodySize),")
                w.line("pageLimits: PageLimits(defaultSize: \(schema.api.defaultPageSize), maxSize: \(schema.api.maxPageSize)),")
                let cors = schema.api.cors
                if !cors.allowedOrigins.isEmpty {
                    w.line("cors: CORSPolicy(allowedOrigins: [" + cors.allowedOrigins.map(SwiftNaming.literal).joined(separator: ", ")
                        + "], allowCredentials: \(cors.allowCredentials), maxAge: \(cors.maxAge)),")
                }
                w.line("tables: [" + tables.compactMap { byTable[$0.table].map { "\($0).table" } }.joined(separator: ", ") + "],")
                w.line("rpcMaxBatch: \(schema.api.rpcMaxBatch),")
                w.line("rateLimit: RateLimitPolicy(perMinute: \(schema.api.rateLimit.perMinute), burst: \(schema.api.rateLimit.burst)),")
                w.line("jobs: GeneratedJobs.definitions,")
                let dependencies = schema.api.dependencies
                let retained = schema.resources.filter { $0.retention != nil }
                var tail: [(String, [String])] = []
                if !dependencies.isEmpty {
                    tail.append(("dependencies", dependencies.map {
                        "HealthDependency(name: \(SwiftNaming.literal($0.name)), url: \(SwiftNaming.literal($0.url)), interval: .seconds(\($0.interval)), timeout: .seconds(\($0.timeout))),"
                    }))
                }
                if !retained.isEmpty {
                    tail.append(("retention", retained.map { r in
                        "RetentionRule(resource: \(SwiftNaming.literal(r.path)), table: \(SwiftNaming.literal(r.table)), action: .\(r.retention!.action.rawValue), after: .seconds(\(r.retention!.after))),"
                    }))
                }
                w.line("schedules: GeneratedJobs.schedules" + (tail.isEmpty ? "" : ","))
                for (index, (label, lines)) in tail.enumerated() {
                    w.line("\(label): [")
                    w.indented { w in for line in lines { w.line(line) } }
                    w.line("]" + (index == tail.count - 1 ? "" : ","))
                }
            }
            w.line(")")
        }
    }

    private static func dictionary(_ pairs: [(String, String)]) -> String {
        guard !pairs.isEmpty else { return "[:]" }
        return "[" + pairs.map { "\(SwiftNaming.literal($0.0)): \(SwiftNaming.literal($0.1))" }.joined(separator: ", ") + "]"
    }
}
