import App
import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// A search's text is part of the statement (so Postgres plans for it), written as a string
/// literal. Whatever a client types must come back from Postgres as exactly that text, and
/// never be read as SQL.
@Suite("Search text as a literal")
struct SearchLiteralTests {
    static let logger = Logger(label: "test")

    /// Characters that matter to SQL and to the literal's quoting, plus ordinary text.
    static let pieces = ["'", "''", "\\", "\\'", "E'", "$$", "$1", ";", "--", "/*", "*/", "\"", "\n", "\t", "é", "😀", "a", " ", "DROP TABLE agents;", "%", "_"]

    @Test func everyTextComesBackFromPostgresUnchanged() async throws {
        let configuration = try TrellisServer.serverPoolConfiguration(
            TestEnvironment.url("TRELLIS_TEST_DATABASE_URL"), size: 1, timeouts: Timeouts())
        let client = PostgresClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            var generator = SeededGenerator(seed: 17)
            for _ in 0..<300 {
                let text = (0..<Int.random(in: 0...8, using: &generator)).map { _ in Self.pieces.randomElement(using: &generator)! }.joined()
                let literal = try #require(quoteLiteral(text))
                let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT \(literal)::text"), logger: Self.logger)
                    .decode(String.self).all()
                #expect(rows == [text])
            }
        }
        #expect(quoteLiteral("a\u{0}b") == nil)
    }

    @Test func aSearchForTextWithQuotesAndBackslashesFindsItsRowAndNothingBreaks() async throws {
        try await withApp { client, _ in
            let created = try await client.send(.post, "/v1/agents", json: #"{"name":"O'Reilly reviewer","role":"back\\slash fan"}"#)
            #expect(created.status == .created)
            for q in ["O'Reilly", "back\\slash", "'; DROP TABLE agents; --", "\\'", "O''Reilly"] {
                let response = try await client.send(.get, "/v1/agents/search?q=" + q.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
                #expect(response.status == .ok, "q=\(q)")
            }
            let hit = try await client.send(.get, "/v1/agents/search?q=" + "O'Reilly".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            #expect(hit.text.contains("O'Reilly reviewer"))
        }
    }
}
