import App
import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// Whatever a client types as a search must reach Postgres as that text, never as SQL.
@Suite("Search text with SQL's special characters")
struct SearchTextTests {
    static let logger = Logger(label: "test")

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
