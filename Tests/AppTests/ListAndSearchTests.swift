import Foundation
import HummingbirdTesting
import Testing
@testable import TrellisRuntime

@Suite("REST list and search on real Postgres")
struct ListAndSearchTests {
    @Test func cursorPagesThrough250RowsNewestFirstWithoutGapsOrDuplicates() async throws {
        try await withApp { client, _ in
            var created: [String] = []
            for i in 0..<250 {
                let id = try #require(try await client.send(.post, "/v1/agents", json: #"{"name":"agent \#(i)"}"#).object().string("id"))
                created.append(id)
            }
            var seen: [String] = []
            var uri = "/v1/agents?limit=100"
            var pages = 0
            while true {
                let res = try await client.send(.get, uri)
                #expect(res.status == .ok)
                let body = try res.object()
                seen += body.array("data").compactMap { $0.object?.string("id") }
                pages += 1
                guard case let .string(cursor)? = body["next_cursor"] else {
                    #expect(body["has_more"] == .bool(false))
                    #expect(res.headers[.link] == nil)
                    break
                }
                #expect(body["has_more"] == .bool(true))
                let link = try #require(res.headers[.link])
                #expect(link.hasPrefix("</v1/agents?limit=100&cursor="))
                #expect(link.hasSuffix(">; rel=\"next\""))
                uri = "/v1/agents?limit=100&cursor=\(cursor)"
            }
            #expect(pages == 3)
            #expect(seen == created.reversed())
        }
    }

    @Test func sortAscendingByNameWithFiltersAndTimeWindow() async throws {
        try await withApp { client, _ in
            for (name, active) in [("delta", true), ("alpha", true), ("charlie", false), ("bravo", true)] {
                _ = try await client.send(.post, "/v1/agents", json: #"{"name":"\#(name)","is_active":\#(active)}"#)
            }
            let sorted = try await client.send(.get, "/v1/agents?sort=name&is_active=true").object().array("data")
            #expect(sorted.compactMap { $0.object?.string("name") } == ["alpha", "bravo", "delta"])
            let page1 = try await client.send(.get, "/v1/agents?sort=-name&limit=2").object()
            #expect(page1.array("data").compactMap { $0.object?.string("name") } == ["delta", "charlie"])
            let cursor = try #require(page1.string("next_cursor"))
            let page2 = try await client.send(.get, "/v1/agents?sort=-name&limit=2&cursor=\(cursor)").object()
            #expect(page2.array("data").compactMap { $0.object?.string("name") } == ["bravo", "alpha"])
            let future = RFC3339.format(Date().addingTimeInterval(3600))
            let none = try await client.send(.get, "/v1/agents?created_after=\(future)").object().array("data")
            #expect(none.isEmpty)
            let all = try await client.send(.get, "/v1/agents?created_before=\(future)").object().array("data")
            #expect(all.count == 4)
        }
    }

    @Test func theNextLinkKeepsEveryParameterAsTheClientMeantIt() async throws {
        try await withApp { client, _ in
            for name in ["one", "two", "three"] {
                _ = try await client.send(.post, "/v1/agents", json: #"{"name":"\#(name)"}"#)
            }
            // An offset's `+` arrives escaped; written back raw it would read as a space.
            let first = try await client.send(.get, "/v1/agents?limit=2&created_after=2020-01-01T00:00:00%2B00:00")
            #expect(first.status == .ok)
            let link = try #require(first.headers[.link])
            #expect(link.hasPrefix("</v1/agents?limit=2&created_after=2020-01-01T00:00:00%2B00:00&cursor="))
            let next = try #require(link.split(separator: ">").first?.dropFirst())
            let second = try await client.send(.get, String(next))
            #expect(second.status == .ok)
            #expect(try second.object().array("data").compactMap { $0.object?.string("name") } == ["one"])
        }
    }

    @Test func aCursorFromAnotherSortIsRejected() async throws {
        try await withApp { client, _ in
            for name in ["a", "b", "c"] { _ = try await client.send(.post, "/v1/agents", json: #"{"name":"\#(name)"}"#) }
            let cursor = try #require(try await client.send(.get, "/v1/agents?limit=1").object().string("next_cursor"))
            let res = try await client.send(.get, "/v1/agents?limit=1&sort=name&cursor=\(cursor)")
            #expect(res.status == .badRequest)
            #expect(try problemErrors(res) == ["/query/cursor format"])
        }
    }

    @Test func invalidQueryParametersAreAllReported() async throws {
        try await withApp { client, _ in
            let res = try await client.send(.get, "/v1/agents?limit=101&cursor=garbage&sort=role&created_after=yesterday&temperature=1&model=llama")
            #expect(res.status == .badRequest)
            let body = try res.object()
            #expect(body.string("code") == "invalid_query")
            #expect(Set(try problemErrors(res)) == [
                "/query/limit too_large", "/query/cursor format", "/query/sort enum", "/query/created_after format",
                "/query/temperature unknown_field", "/query/model enum",
            ])
        }
    }

    @Test func searchRanksWeightedMatchesAndPagesWithTheCursor() async throws {
        try await withApp { client, _ in
            _ = try await client.send(.post, "/v1/agents", json: #"{"name":"Helper","system_prompt":"You review quantum physics papers."}"#)
            _ = try await client.send(.post, "/v1/agents", json: #"{"name":"Quantum researcher"}"#)
            _ = try await client.send(.post, "/v1/agents", json: #"{"name":"Unrelated","role":"cook"}"#)
            let res = try await client.send(.get, "/v1/agents/search?q=quantum")
            #expect(res.status == .ok)
            let hits = try res.object().array("data").compactMap(\.object)
            // The name (weight A) match ranks above the system prompt (weight C) match.
            #expect(hits.compactMap { $0.string("name") } == ["Quantum researcher", "Helper"])
            guard case let .double(first)? = hits.first?["rank"], case let .double(second)? = hits.last?["rank"] else {
                Issue.record("rank missing")
                return
            }
            #expect(first > second)
            let page1 = try await client.send(.get, "/v1/agents/search?q=quantum&limit=1").object()
            let cursor = try #require(page1.string("next_cursor"))
            let page2 = try await client.send(.get, "/v1/agents/search?q=quantum&limit=1&cursor=\(cursor)").object()
            #expect(page2.array("data").compactMap { $0.object?.string("name") } == ["Helper"])
            #expect(page2["has_more"] == .bool(false))
        }
    }

    @Test func searchWithoutQueryIsABadRequest() async throws {
        try await withApp { client, _ in
            let missing = try await client.send(.get, "/v1/agents/search")
            #expect(missing.status == .badRequest)
            #expect(try problemErrors(missing) == ["/query/q required"])
            let empty = try await client.send(.get, "/v1/agents/search?q=")
            #expect(try problemErrors(empty) == ["/query/q required"])
        }
    }
}
