import Crypto
import GraphQL
import NIOConcurrencyHelpers

/// Parses and validates each distinct GraphQL document once: the compiled operations are
/// kept in a bounded least-recently-used cache keyed by the SHA-256 of the document, which is
/// also the hash of Apollo's automatic persisted queries (`extensions.persistedQuery`).
final class GraphQLDocumentCache: Sendable {
    /// The most documents kept.
    let capacity: Int
    private let schema: GraphQLSchema

    private struct Entry {
        var document: UncheckedSendable<Document>
        var plans: [String: GraphQLPlan]
        var lastUse: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var clock: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    init(schema: GraphQLSchema, capacity: Int) {
        self.schema = schema
        self.capacity = max(1, capacity)
    }

    /// The SHA-256 of `query`, lowercase hex: the document's key and its persisted-query hash.
    static func hash(_ query: String) -> String {
        SHA256.hash(data: Array(query.utf8)).map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
        }.joined()
    }

    /// The plan of `operationName` in the document whose hash is `hash`, parsing and
    /// validating `query` when the document is not cached. With no `query`, only a cached
    /// document answers (a persisted query the server has not seen is `PERSISTED_QUERY_NOT_FOUND`).
    func plan(hash: String, query: String?, operationName: String?) throws(GraphQLRequestError) -> GraphQLPlan {
        let key = hash + "\u{0}" + (operationName ?? "")
        let cached: (UncheckedSendable<Document>?, GraphQLPlan?) = state.withLockedValue { state in
            guard var entry = state.entries[hash] else { return (nil, nil) }
            state.clock += 1
            entry.lastUse = state.clock
            state.entries[hash] = entry
            return (entry.document, entry.plans[key])
        }
        if let plan = cached.1 { return plan }
        let document: Document
        if let cachedDocument = cached.0 {
            document = cachedDocument.value
        } else {
            guard let query else { throw GraphQLRequestError("PersistedQueryNotFound", code: "PERSISTED_QUERY_NOT_FOUND") }
            do {
                document = try parse(source: query)
            } catch let error as GraphQLError {
                throw GraphQLRequestError(
                    error.message, code: "GRAPHQL_PARSE_FAILED", locations: error.locations.map { ($0.line, $0.column) })
            } catch {
                throw GraphQLRequestError("The query does not parse", code: "GRAPHQL_PARSE_FAILED")
            }
            let problems = validate(schema: schema, ast: document)
            if let first = problems.first {
                throw GraphQLRequestError(
                    problems.count == 1 ? first.message : first.message + " (and \(problems.count - 1) more)",
                    code: "GRAPHQL_VALIDATION_FAILED", locations: first.locations.map { ($0.line, $0.column) })
            }
        }
        let plan = try GraphQLPlan.compile(document, operationName: operationName)
        state.withLockedValue { state in
            state.clock += 1
            var entry = state.entries[hash] ?? Entry(document: UncheckedSendable(document), plans: [:], lastUse: state.clock)
            entry.plans[key] = plan
            entry.lastUse = state.clock
            state.entries[hash] = entry
            if state.entries.count > capacity, let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                state.entries[oldest] = nil
            }
        }
        return plan
    }

    /// Documents cached now.
    var count: Int { state.withLockedValue { $0.entries.count } }
}
