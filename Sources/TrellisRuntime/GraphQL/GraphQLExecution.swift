import Foundation
import NIOConcurrencyHelpers
import PostgresNIO
import TrellisContract
import TrellisPostgres

/// A place in a GraphQL answer, for an error's `path`: a field's response key or a list index.
enum GraphQLPathPart: Sendable {
    case key(String)
    case index(Int)
}

/// Where each object of one level sits in the answer, worked out only when an error is
/// reported there: building every node's path up front cost a nested query an array per node.
struct GraphQLPaths {
    let count: Int
    let path: (Int) -> [GraphQLPathPart]

    /// One object at `path` (a root field's).
    static func single(_ path: [GraphQLPathPart]) -> GraphQLPaths {
        GraphQLPaths(count: 1) { _ in path }
    }

    /// The first object's path, where a field's error is reported (an error names one path,
    /// however many objects the field failed for).
    var first: [GraphQLPathPart] { count > 0 ? path(0) : [] }

    /// The same objects' field `key`.
    func appending(_ key: String) -> GraphQLPaths {
        let path = self.path
        return GraphQLPaths(count: count) { path($0) + [.key(key)] }
    }
}

/// The relations of the generated schema, by object type: the same rules as the SDL
/// (``GraphQLNames``), from the descriptors' `references`.
struct GraphQLRelations: Sendable {
    /// `Agent.swarm`: the column holding the id, and the target type.
    var forward: [String: [String: (column: String, target: String)]] = [:]
    /// `Swarm.agents`: the referencing type and its column.
    var reverse: [String: [String: (source: String, column: String)]] = [:]
    /// Every reverse relation's name (connections, for the complexity budget).
    var connectionNames: Set<String> = []

    init(_ resources: [GraphQLResourceOps]) {
        let byTable = Dictionary(resources.map { ($0.descriptor.table, $0) }, uniquingKeysWith: { a, _ in a })
        for source in resources.sorted(by: { $0.typeName < $1.typeName }) {
            let d = source.descriptor
            for (column, table) in d.references.sorted(by: { $0.key < $1.key }) {
                guard let target = byTable[table] else { continue }
                if target.descriptor.operations.contains(.get) {
                    forward[source.typeName, default: [:]][GraphQLNames.forwardRelation(field: column)] = (column, target.typeName)
                }
                if d.operations.contains(.list) {
                    let isOnly = d.references.values.filter { $0 == table }.count == 1
                    let name = GraphQLNames.reverseRelation(path: d.path, field: column, isOnlyReference: isOnly)
                    reverse[target.typeName, default: [:]][name] = (source.typeName, column)
                    connectionNames.insert(name)
                }
            }
        }
    }
}

/// Counts the statements one GraphQL request runs (reported in `extensions.cost`).
final class StatementCounter: Sendable {
    private let value = NIOLockedValueBox(0)
    func increment() { value.withLockedValue { $0 += 1 } }
    var count: Int { value.withLockedValue { $0 } }
}

/// A session that counts the statements it runs.
struct CountingSession: TenantSession {
    let base: any TenantSession
    let counter: StatementCounter

    var identity: Identity { base.identity }

    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        counter.increment()
        return try await base.rows(query)
    }

    func rows(_ query: ShapedQuery) async throws -> [SQLRow] {
        counter.increment()
        return try await base.rows(query)
    }

    func rows<Statement: TenantPreparedStatement>(_ statement: Statement) async throws -> [SQLRow] {
        counter.increment()
        return try await base.rows(statement)
    }
}

/// One GraphQL request's fields and the errors they met. Reads are answered a level at a
/// time: every field of one level that needs the database runs one statement for all the
/// objects of that level (``ResourceService/getMany(_:in:)``, ``ResourceService/listByParents(_:parents:query:in:)``),
/// so a query's statement count depends on its shape, never on its page sizes.
struct GraphQLExecution {
    let call: GraphQLCall
    let variables: JSONObject
    let byType: [String: GraphQLResourceOps]
    let relations: GraphQLRelations
    let counter = StatementCounter()
    var errors: [FieldError] = []

    struct FieldError {
        var message: String
        var path: [GraphQLPathPart]
        var line: Int
        var column: Int
        var code: String
        var status: Int?
        var problems: [FieldProblem]

        func write(to w: inout JSONWriter, requestID: String) {
            w.beginObject()
            w.key("message"); w.value(message)
            if line > 0 {
                w.key("locations"); w.beginArray(); w.beginObject()
                w.key("line"); w.value(Int64(line)); w.key("column"); w.value(Int64(column))
                w.endObject(); w.endArray()
            }
            w.key("path"); w.beginArray()
            for part in path {
                switch part {
                case let .key(key): w.value(key)
                case let .index(index): w.value(Int64(index))
                }
            }
            w.endArray()
            w.key("extensions")
            w.beginObject()
            w.key("code"); w.value(code)
            if let status { w.key("status"); w.value(Int64(status)) }
            w.key("request_id"); w.value(requestID)
            w.fieldProblems(problems)
            w.endObject()
            w.endObject()
        }
    }

    // MARK: Errors

    mutating func fail(_ selection: GraphQLSelection, path: [GraphQLPathPart], message: String, code: String) {
        errors.append(FieldError(
            message: message, path: path, line: selection.line, column: selection.column, code: code, status: nil, problems: []))
    }

    /// What a service call threw, reported at the field (no internal detail: the problem
    /// boundary's own mapping logs anything else and says only "internal error").
    mutating func fail(_ selection: GraphQLSelection, path: [GraphQLPathPart], error: any Error, paths mapPath: (String) -> String = { $0 }) {
        let problem = ProblemMiddleware.problem(for: error, logger: call.context.logger)
        errors.append(FieldError(
            message: problem.detail ?? problem.title, path: path, line: selection.line, column: selection.column,
            code: problem.code, status: Int(problem.status.code),
            problems: problem.errors.map { FieldProblem(path: mapPath($0.path), code: $0.code, message: $0.message) }))
    }

    func argument(_ selection: GraphQLSelection, _ name: String) -> JSONValue? {
        selection.arguments[name]?.resolved(variables)
    }

    /// The caller, holding `scope`; the field fails (reported at its first path) otherwise.
    mutating func authorized(_ scope: String, _ selection: GraphQLSelection, paths: GraphQLPaths) -> Bool {
        do {
            _ = try call.context.authorized(for: scope)
            return true
        } catch {
            if paths.count > 0 { fail(selection, path: paths.first, error: error) }
            return false
        }
    }

    /// The columns `selections` read of `ops`' objects: the fields asked for, the reference
    /// columns that relations follow, and always the id.
    func projection(_ ops: GraphQLResourceOps, _ selections: [GraphQLSelection]) -> ColumnProjection {
        var names: [String] = []
        for selection in selections where selection.isIncluded(variables) {
            if let column = ops.columns[selection.name] {
                names.append(column)
            } else if let forward = relations.forward[ops.typeName]?[selection.name] {
                names.append(forward.column)
            }
        }
        return ops.projections.projection(names)
    }

    /// What a connection's nodes select (`edges { node { … } }`, under every alias).
    func nodeSelections(_ connection: GraphQLSelection) -> [GraphQLSelection] {
        connection.children.filter { $0.name == "edges" && $0.isIncluded(variables) }
            .flatMap { $0.children.filter { $0.name == "node" && $0.isIncluded(variables) } }
            .flatMap(\.children)
    }

    // MARK: Objects, a level at a time

    /// The selected fields of `items` (objects of `ops`' type), each at its path. Relations
    /// run their statement here, one per field for the whole level; the values are written
    /// later, straight from the cells (``ObjectsAnswer/write(_:to:)``).
    mutating func objects(
        _ ops: GraphQLResourceOps, _ items: ProjectedCells, _ selections: [GraphQLSelection], paths: GraphQLPaths,
        session: any TenantSession
    ) async -> ObjectsAnswer {
        let answer = ObjectsAnswer(typeName: ops.typeName, cells: items)
        for selection in selections where selection.isIncluded(variables) {
            if let condition = selection.typeCondition, condition != ops.typeName, condition != "Node" { continue }
            let key = selection.responseKey
            let rendered = renderedKey(key)
            switch selection.name {
            case "__typename":
                answer.fields.set(key, .constant(rendered, .string(ops.typeName)))
                continue
            case "nodeId":
                answer.fields.set(key, .nodeID(rendered))
                continue
            default: break
            }
            if let column = ops.columns[selection.name], let index = items.column(column) {
                answer.fields.set(key, .column(rendered, index))
            } else if let forward = relations.forward[ops.typeName]?[selection.name], let target = byType[forward.target] {
                answer.fields.set(key, await follow(forward.column, to: target, from: items, selection, paths: paths, session: session))
            } else if let reverse = relations.reverse[ops.typeName]?[selection.name], let source = byType[reverse.source] {
                answer.fields.set(key, await referencing(source, column: reverse.column, parents: items, selection, paths: paths, session: session))
            } else {
                fail(selection, path: paths.first + [.key(key)], message: "\(ops.typeName).\(selection.name) is not served", code: "NOT_IMPLEMENTED")
                answer.fields.set(key, .constant(rendered, .null))
            }
        }
        return answer
    }

    /// `Agent.swarm` for every item: one statement for all the ids.
    private mutating func follow(
        _ column: String, to target: GraphQLResourceOps, from items: ProjectedCells, _ selection: GraphQLSelection,
        paths: GraphQLPaths, session: any TenantSession
    ) async -> ObjectsAnswer.Field {
        let key = renderedKey(selection.responseKey)
        let fieldPaths = paths.appending(selection.responseKey)
        let ids: [UUID?] = items.column(column).map { index in (0..<items.count).map { items.uuid($0, index) } } ?? []
        guard ids.contains(where: { $0 != nil }) else { return .constant(key, .null) }
        guard authorized(target.descriptor.readScope, selection, paths: fieldPaths) else { return .constant(key, .null) }
        let found: ProjectedCells
        do {
            let projection = projection(target, selection.children)
            found = try ProjectedCells(projection, rows: try await target.getMany(ids.compactMap { $0 }, projection, session))
        } catch {
            fail(selection, path: fieldPaths.first, error: error)
            return .constant(key, .null)
        }
        var indexByID: [UUID: Int] = [:]
        for (index, id) in found.ids.enumerated() { indexByID[id] = index }
        let targets = ids.map { id in id.flatMap { indexByID[$0] } ?? -1 }
        // Each target is answered once, at the path of the first item that names it.
        var firstItem = Array(repeating: -1, count: found.count)
        for (i, target) in targets.enumerated() where target >= 0 && firstItem[target] < 0 { firstItem[target] = i }
        let targetPaths = GraphQLPaths(count: found.count) { firstItem[$0] < 0 ? [] : fieldPaths.path(firstItem[$0]) }
        return .forward(key, targets: targets, await objects(target, found, selection.children, paths: targetPaths, session: session))
    }

    /// `Swarm.agents(…)` for every parent: one statement for all the pages (and one more for
    /// `totalCount` when asked).
    private mutating func referencing(
        _ source: GraphQLResourceOps, column: String, parents: ProjectedCells, _ selection: GraphQLSelection,
        paths: GraphQLPaths, session: any TenantSession
    ) async -> ObjectsAnswer.Field {
        let key = renderedKey(selection.responseKey)
        let fieldPaths = paths.appending(selection.responseKey)
        guard authorized(source.descriptor.readScope, selection, paths: fieldPaths),
            let query = listQuery(source, selection, isSearch: false, path: fieldPaths.first)
        else { return .constant(key, .null) }
        let ids = parents.ids
        let projection = projection(source, nodeSelections(selection))
        let pages: [UUID: Page<SQLRow>]
        var totals: [UUID: Int]?
        do {
            pages = try await source.listByParents(column, ids, query, projection, session)
            if Self.asksForTotal(selection, variables) { totals = try await source.countByParents(column, ids, query, session) }
        } catch {
            fail(selection, path: fieldPaths.first, error: error)
            return .constant(key, .null)
        }
        let (summaries, rows) = PageSummary.of(ids.map { pages[$0] ?? Page(items: [], nextCursor: nil) })
        return .connection(key, await connections(
            .resource(source, projection, rows), pages: summaries, ranks: nil,
            totals: ids.map { id in totals.map { $0[id] ?? 0 } }, selection, paths: fieldPaths, session: session))
    }

    /// Whether a connection asks for an edge's `cursor` or `endCursor` (both are items'
    /// cursors; each is an HMAC, made only when asked for).
    static func asksForCursors(_ selection: GraphQLSelection) -> Bool {
        selection.children.contains { child in
            (child.name == "edges" || child.name == "pageInfo")
                && child.children.contains { $0.name == "cursor" || $0.name == "endCursor" }
        }
    }

    static func asksForTotal(_ selection: GraphQLSelection, _ variables: JSONObject) -> Bool {
        selection.children.contains { $0.name == "totalCount" && $0.isIncluded(variables) }
    }

    /// A connection's nodes, every page's in one list: rows of a resource (answered a level at
    /// a time), or jobs.
    enum ConnectionNodes {
        case resource(GraphQLResourceOps, ColumnProjection, [SQLRow])
        case jobs([JSONObject])

        var typeName: String {
            switch self {
            case let .resource(ops, _, _): ops.typeName
            case .jobs: JobGraphQL.typeName
            }
        }
    }

    /// The connections of several pages: the nodes of all of them are answered together.
    mutating func connections(
        _ nodes: ConnectionNodes, pages: [PageSummary], ranks: [[Double]]?, totals: [Int?], _ selection: GraphQLSelection,
        paths: GraphQLPaths, session: any TenantSession
    ) async -> ConnectionsAnswer {
        let answer = ConnectionsAnswer(pages: pages, ranks: ranks, totals: totals)
        let typeName = nodes.typeName + (ranks == nil ? "Connection" : "SearchConnection")
        for child in selection.children where child.isIncluded(variables) {
            let key = child.responseKey
            let rendered = renderedKey(key)
            switch child.name {
            case "__typename":
                answer.fields.set(key, .constant(rendered, .string(typeName)))
            case "totalCount":
                answer.fields.set(key, .totalCount(rendered))
            case "pageInfo":
                var info: [ConnectionsAnswer.PageInfoField] = []
                for field in child.children where field.isIncluded(variables) {
                    switch field.name {
                    case "__typename": info.append(.constant(renderedKey(field.responseKey), .string("PageInfo")))
                    case "hasNextPage": info.append(.hasNextPage(renderedKey(field.responseKey)))
                    case "endCursor": info.append(.endCursor(renderedKey(field.responseKey)))
                    default: continue
                    }
                }
                answer.fields.set(key, .pageInfo(rendered, info))
            case "edges":
                var edge: [ConnectionsAnswer.EdgeField] = []
                for field in child.children where field.isIncluded(variables) {
                    let fieldKey = renderedKey(field.responseKey)
                    switch field.name {
                    case "__typename": edge.append(.constant(fieldKey, .string(nodes.typeName + (ranks == nil ? "Edge" : "SearchEdge"))))
                    case "cursor": edge.append(.cursor(fieldKey))
                    case "rank": edge.append(.rank(fieldKey))
                    case "node":
                        let nodePaths = Self.nodePaths(pages, paths: paths, key: key, nodeKey: field.responseKey)
                        edge.append(.node(fieldKey, await self.nodes(nodes, field, paths: nodePaths, session: session)))
                    default: continue
                    }
                }
                answer.fields.set(key, .edges(rendered, edge))
            default: continue
            }
        }
        return answer
    }

    /// Where each node of `pages` sits: `<page's path>.<key>[edge].<nodeKey>`.
    private static func nodePaths(_ pages: [PageSummary], paths: GraphQLPaths, key: String, nodeKey: String) -> GraphQLPaths {
        let count = pages.last?.nodes.upperBound ?? 0
        return GraphQLPaths(count: count) { node in
            guard let page = pages.firstIndex(where: { $0.nodes.contains(node) }) else { return [] }
            return paths.path(page) + [.key(key), .index(node - pages[page].nodes.lowerBound), .key(nodeKey)]
        }
    }

    /// Every page's nodes, answered in one level.
    private mutating func nodes(
        _ nodes: ConnectionNodes, _ field: GraphQLSelection, paths: GraphQLPaths, session: any TenantSession
    ) async -> ConnectionsAnswer.NodesAnswer {
        switch nodes {
        case let .resource(ops, projection, rows):
            do {
                return .objects(await objects(ops, try ProjectedCells(projection, rows: rows), field.children, paths: paths, session: session))
            } catch {
                fail(field, path: paths.first, error: error)
                return .values(Array(repeating: .null, count: rows.count))
            }
        case let .jobs(jobs):
            return .values(jobs.map { JobGraphQL.object($0, field.children, variables) })
        }
    }

    /// A connection's arguments as the list's query parameters, checked by REST's rules;
    /// nil (the field failed, `invalid_query` with paths into the arguments) when they break one.
    mutating func listQuery(_ ops: GraphQLResourceOps, _ selection: GraphQLSelection, isSearch: Bool, path: [GraphQLPathPart]) -> ListQuery? {
        var parameters: [(String, String)] = []
        var problems: [FieldProblem] = []
        switch argument(selection, "first") {
        case nil, .null?: break
        case let .integer(first)?: parameters.append(("limit", String(first)))
        default: problems.append(FieldProblem(path: "/first", code: .type, message: "must be an integer"))
        }
        if case let .string(after)? = argument(selection, "after") { parameters.append(("cursor", after)) }
        if isSearch, case let .string(q)? = argument(selection, "q") { parameters.append(("q", q)) }
        if !isSearch, case let .string(sort)? = argument(selection, "sort") {
            let descending = sort.hasSuffix("_DESC")
            let key = sort.dropLast(descending ? 5 : 4).lowercased()
            parameters.append(("sort", (descending ? "-" : "") + key))
        }
        if !isSearch, case let .object(filter)? = argument(selection, "filter") {
            for member in filter.members {
                guard member.value != .null else { continue }
                let name = member.key == "createdAfter" ? "created_after" : member.key == "createdBefore" ? "created_before" : ops.columns[member.key] ?? member.key
                if let value = ListQuery.parameterText(member.value) {
                    parameters.append((name, value))
                } else {
                    problems.append(FieldProblem(path: "/filter/" + member.key, code: .type, message: "must be a single value"))
                }
            }
        }
        func graphQLPath(_ path: String) -> String {
            switch path {
            case "/limit": "/first"
            case "/cursor": "/after"
            case "/q", "/sort": path
            case "/created_after": "/filter/createdAfter"
            case "/created_before": "/filter/createdBefore"
            default: "/filter/" + GraphQLNames.camel(String(path.dropFirst()))
            }
        }
        switch ops.parseQuery(parameters, isSearch, call.services.pageLimits, call.services.cursorKeys) {
        case var .valid(query) where problems.isEmpty:
            query.wantsItemCursors = Self.asksForCursors(selection)
            return query
        case .valid:
            fail(selection, path: path, error: Problem.invalidQuery(problems))
        case let .invalid(more):
            fail(selection, path: path, error: Problem.invalidQuery(problems + more.map {
                FieldProblem(path: graphQLPath($0.path), code: $0.code, message: $0.message)
            }))
        }
        return nil
    }

    // MARK: Cost

    /// The work a query asks for: every field costs 1, and what a connection's nodes ask for
    /// counts `first` times (the default page size when absent).
    func complexity(_ selections: [GraphQLSelection], connections: Set<String>, defaultPage: Int) -> Int {
        var total = 0
        for selection in selections where selection.isIncluded(variables) {
            let inner = complexity(selection.children, connections: connections, defaultPage: defaultPage)
            if connections.contains(selection.name) {
                var first = defaultPage
                if case let .integer(value)? = argument(selection, "first") { first = Int(clamping: max(0, value)) }
                total = total.addingReportingOverflow(1).partialValue
                total = total.addingReportingOverflow(first.multipliedReportingOverflow(by: max(inner, 1)).partialValue).partialValue
            } else {
                total += 1 + inner
            }
        }
        return total
    }
}

// MARK: Root fields

extension GraphQLExecution {
    /// A root query field's value (nil: null) and whether its type is non-null.
    mutating func query(
        _ selection: GraphQLSelection, _ field: GraphQLEndpoint.RootField?, session: any TenantSession
    ) async -> (GraphQLFieldValue?, Bool) {
        let path: [GraphQLPathPart] = [.key(selection.responseKey)]
        if selection.name == "__typename" { return (.value(.string("Query")), true) }
        switch field {
        case .node?:
            guard case let .string(text)? = argument(selection, "nodeId"), let (type, id) = GraphQLNames.decodeNodeID(text),
                let ops = byType[type], ops.descriptor.operations.contains(.get)
            else {
                fail(selection, path: path, error: Problem.notFound("No object with this nodeId"))
                return (nil, false)
            }
            let projection = projection(ops, selection.children)
            return (await one(ops, selection, path: path, session: session) { (projection, try await ops.get(id, projection, $0)) }, false)
        case let .get(ops)?:
            guard let id = uuidArgument(selection, "id", path: path) else { return (nil, false) }
            let projection = projection(ops, selection.children)
            return (await one(ops, selection, path: path, session: session) { (projection, try await ops.get(id, projection, $0)) }, false)
        case let .list(ops)?:
            guard authorized(ops.descriptor.readScope, selection, paths: .single(path)),
                let query = listQuery(ops, selection, isSearch: false, path: path)
            else { return (nil, true) }
            do {
                let projection = projection(ops, nodeSelections(selection))
                let page = try await ops.list(query, projection, session)
                let total = Self.asksForTotal(selection, variables) ? try await ops.count(query, session) : nil
                let (pages, rows) = PageSummary.of([page])
                return (.connection(await connections(
                    .resource(ops, projection, rows), pages: pages, ranks: nil, totals: [total], selection, paths: .single(path), session: session)), true)
            } catch {
                fail(selection, path: path, error: error)
                return (nil, true)
            }
        case let .search(ops)?:
            guard authorized(ops.descriptor.readScope, selection, paths: .single(path)),
                let query = listQuery(ops, selection, isSearch: true, path: path)
            else { return (nil, true) }
            do {
                let projection = projection(ops, nodeSelections(selection))
                let found = try await ops.search(query, projection, session)
                let (pages, hits) = PageSummary.of([found])
                return (.connection(await connections(
                    .resource(ops, projection, hits.map(\.row)), pages: pages, ranks: [hits.map(\.rank)], totals: [nil], selection,
                    paths: .single(path), session: session)), true)
            } catch {
                fail(selection, path: path, error: error)
                return (nil, true)
            }
        case let .job(field)? where !field.isMutation:
            return await jobQuery(field, selection, path: path, session: session)
        case .create?, .update?, .delete?, .job?, nil:
            fail(selection, path: path, message: "\(selection.name) is not a query field", code: "NOT_IMPLEMENTED")
            return (nil, false)
        }
    }

    /// A root mutation field, in its own transaction; what it returns is read after it commits.
    mutating func mutation(_ selection: GraphQLSelection, _ field: GraphQLEndpoint.RootField?) async -> (GraphQLFieldValue?, Bool) {
        let path: [GraphQLPathPart] = [.key(selection.responseKey)]
        if selection.name == "__typename" { return (.value(.string("Mutation")), true) }
        if case let .job(field)? = field, field.isMutation { return await jobMutation(field, selection, path: path) }
        let call = self.call
        let written: (GraphQLResourceOps, JSONObject)
        do {
            switch field {
            case let .create(ops)?:
                written = (ops, try await ops.create(ops.restInput(argument(selection, "input") ?? .null), call))
            case let .update(ops)?:
                guard let id = uuidArgument(selection, "id", path: path), let version = versionArgument(selection, path: path) else {
                    return (nil, true)
                }
                written = (ops, try await ops.update(id, ops.restInput(argument(selection, "input") ?? .null), version.value, call))
            case let .delete(ops)?:
                guard let id = uuidArgument(selection, "id", path: path), let version = versionArgument(selection, path: path) else {
                    return (nil, true)
                }
                try await ops.delete(id, version.value, call)
                var out = JSONObject()
                for child in selection.children where child.isIncluded(variables) {
                    switch child.name {
                    case "__typename": out.set(child.responseKey, .string("Deleted"))
                    case "id": out.set(child.responseKey, .string(id.lowercasedString))
                    case "deleted": out.set(child.responseKey, .bool(true))
                    default: continue
                    }
                }
                return (.value(.object(out)), true)
            default:
                fail(selection, path: path, message: "\(selection.name) is not a mutation field", code: "NOT_IMPLEMENTED")
                return (nil, true)
            }
        } catch {
            let ops: GraphQLResourceOps? = switch field {
            case let .create(ops)?, let .update(ops)?, let .delete(ops)?: ops
            default: nil
            }
            fail(selection, path: path, error: error, paths: { ops?.graphQLPath($0) ?? $0 })
            return (nil, true)
        }
        let (ops, object) = written
        guard let identity = call.context.identity else { return (nil, true) }
        let counter = self.counter
        var value: GraphQLFieldValue?
        let cells = ProjectedCells(projection(ops, selection.children), objects: [object])
        do {
            // The object's own fields need no statement; its relations read after the commit.
            try await call.context.read(on: call.services, as: identity) { statement in
                value = .object(await objects(ops, cells, selection.children, paths: .single(path), session: CountingSession(base: statement, counter: counter)))
            }
        } catch {
            fail(selection, path: path, error: error)
        }
        return (value, true)
    }

    /// One object by a read, with its selection answered.
    private mutating func one(
        _ ops: GraphQLResourceOps, _ selection: GraphQLSelection, path: [GraphQLPathPart], session: any TenantSession,
        _ load: (any TenantSession) async throws -> (ColumnProjection, SQLRow)
    ) async -> GraphQLFieldValue? {
        guard authorized(ops.descriptor.readScope, selection, paths: .single(path)) else { return nil }
        let cells: ProjectedCells
        do {
            let (projection, row) = try await load(session)
            cells = try ProjectedCells(projection, rows: [row])
        } catch {
            fail(selection, path: path, error: error)
            return nil
        }
        return .object(await objects(ops, cells, selection.children, paths: .single(path), session: session))
    }

    mutating func uuidArgument(_ selection: GraphQLSelection, _ name: String, path: [GraphQLPathPart]) -> UUID? {
        guard case let .string(text)? = argument(selection, name), let id = UUID(hyphenated: text) else {
            fail(selection, path: path, error: Problem.validationFailed([FieldProblem(path: "/" + name, code: .format, message: "must be a UUID")]))
            return nil
        }
        return id
    }

    /// `ifVersion`: absent or null is no precondition.
    private mutating func versionArgument(_ selection: GraphQLSelection, path: [GraphQLPathPart]) -> (value: Int64?, Void)? {
        switch argument(selection, "ifVersion") {
        case nil, .null?: return (nil, ())
        case let .integer(version)?: return (version, ())
        default:
            fail(selection, path: path, error: Problem.validationFailed([FieldProblem(path: "/ifVersion", code: .type, message: "must be an integer")]))
            return nil
        }
    }
}
