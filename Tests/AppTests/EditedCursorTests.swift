import App
import Foundation
import HummingbirdTesting
import Synchronization
import Testing
@testable import TrellisRuntime

/// The reproductions of issue 7 item 4: a cursor edited by the client, and a NUL in a
/// search text, were 500s. Each is now a 400 `invalid_query` naming the parameter.
@Suite("Edited cursors and NUL query text are 400s, never 5xx")
struct EditedCursorTests {
    private static let id = "0190f0a2-3b4c-7d5e-8f60-718293a4b5c6"

    /// Cursor payloads a client could write by hand: (sort, value, query string to send them with).
    static let editedPayloads: [(name: String, sort: String, value: String, query: String)] = [
        ("bad timestamp", "-created_at", "not a time", ""),
        ("year 99999999", "-created_at", "99999999-01-01 00:00:00+00", ""),
        ("NUL in the timestamp", "-created_at", "2026-01-01 00:00:00+00\u{0}", ""),
        ("1e999 as a search rank", "-rank|agent", "1e999", "q=agent"),
        ("NUL in a name", "name", "a\u{0}b", "sort=name"),
    ]

    /// base64url of the cursor JSON, without a signature: how a client forges one.
    static func unsigned(sort: String, value: String) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("s"); w.value(sort)
        w.key("v"); w.value(value)
        w.key("i"); w.value(id)
        w.endObject()
        return Base64URL.encode(w.bytes)
    }

    /// The list or search URI of `agents` for one payload.
    static func uri(_ query: String, cursor: String) -> String {
        let path = query.hasPrefix("q=") ? "/v1/agents/search" : "/v1/agents"
        return path + "?" + (query.isEmpty ? "" : query + "&") + "cursor=" + cursor
    }

    @Test("a hand-edited cursor is a 400 invalid_query at /query/cursor", arguments: 0..<editedPayloads.count)
    func handEditedCursor(_ index: Int) async throws {
        let payload = Self.editedPayloads[index]
        try await withApp { client, _ in
            let res = try await client.send(.get, Self.uri(payload.query, cursor: Self.unsigned(sort: payload.sort, value: payload.value)))
            #expect(res.status == .badRequest, "\(payload.name): \(res.status) \(res.text)")
            #expect(try res.object().string("code") == "invalid_query", "\(payload.name)")
            #expect(try problemErrors(res) == ["/query/cursor format"], "\(payload.name)")
        }
    }

    /// The cases above are all refused by the type check too; these cursors are well typed
    /// (a real `next_cursor` of the listing with another row's id, or another row's sort value
    /// and id), so only the signature check refuses them: the same payloads signed with the
    /// server's key page normally.
    @Test("a well-typed cursor edited by hand, unsigned or wrongly signed, is a 400 at /query/cursor")
    func wellTypedButNotSignedByTheServer() async throws {
        let keys = Mutex<CursorKeys?>(nil)
        try await withApp(configure: { _, services in keys.withLock { $0 = services.cursorKeys } }) { client, _ in
            let serverKeys = try #require(keys.withLock { $0 })
            var ids: [String: UUID] = [:]
            for name in ["alpha", "bravo", "charlie", "delta"] {
                let made = try await client.send(.post, "/v1/agents", json: #"{"name":"\#(name)"}"#)
                #expect(made.status == .created)
                let id = try #require(made.object().string("id").flatMap(UUID.init(uuidString:)))
                ids[name] = id
            }
            let bravo = try #require(ids["bravo"])
            for (query, edit) in [
                // the default sort (-created_at): the same timestamp, another valid id
                ("", { (c: Cursor) in Cursor(sort: c.sort, value: c.value, id: UUID.v7()) }),
                // sort=name: the next row's name and id
                ("sort=name&", { (c: Cursor) in Cursor(sort: c.sort, value: "bravo", id: bravo) }),
            ] as [(String, (Cursor) -> Cursor)] {
                let page = try await client.send(.get, "/v1/agents?\(query)limit=1").object()
                let real = try #require(page.string("next_cursor"))
                // Read the way a client can: base64url JSON before the dot, the tag after it.
                let parts = real.split(separator: ".")
                try #require(parts.count == 2, "\(real)")
                let payload = try #require(Base64URL.decode(parts[0]).flatMap { try? JSONValue(parsing: $0) }?.object)
                let original = Cursor(
                    sort: try #require(payload.string("s")), value: try #require(payload.string("v")),
                    id: try #require(payload.string("i").flatMap(UUID.init(uuidString:))))
                #expect(original.encoded(with: serverKeys) == real, "the test writes cursors as the server does")
                let edited = edit(original)
                #expect(edited != original)
                let signed = edited.encoded(with: serverKeys)
                let body = try #require(signed.split(separator: ".").first.map(String.init))
                let control = try await client.send(.get, "/v1/agents?\(query)limit=1&cursor=\(signed)")
                #expect(control.status == .ok, "\(query) signed by the server: \(control.status) \(control.text)")
                for (how, forged) in [
                    ("unsigned", body),
                    ("with the real cursor's tag", body + "." + parts[1]),
                    ("signed with another key", body + "." + Base64URL.encode(CursorKeys.ephemeral().sign(try #require(Base64URL.decode(Substring(body)))))),
                ] {
                    let res = try await client.send(.get, "/v1/agents?\(query)limit=1&cursor=\(forged)")
                    #expect(res.status == .badRequest, "\(query) \(how): \(res.status) \(res.text)")
                    #expect(try res.object().string("code") == "invalid_query", "\(query) \(how)")
                    #expect(try problemErrors(res) == ["/query/cursor format"], "\(query) \(how)")
                }
            }
        }
    }

    @Test("q holding a NUL is a 400 invalid_query at /query/q on every search route")
    func nulInSearchText() async throws {
        let searchable = TrellisApp.api.resources.map(\.descriptor).filter { $0.operations.contains(.search) }
        #expect(!searchable.isEmpty)
        try await withApp { client, _ in
            for d in searchable {
                let res = try await client.send(.get, "/v1/\(d.path)/search?q=a%00b")
                #expect(res.status == .badRequest, "\(d.path): \(res.status) \(res.text)")
                #expect(try res.object().string("code") == "invalid_query", "\(d.path)")
                #expect(try problemErrors(res) == ["/query/q format"], "\(d.path)")
            }
        }
    }

    @Test("a cursor signed with the server's key but holding a value of the wrong type is a 400 too", arguments: 0..<editedPayloads.count)
    func signedButIllTyped(_ index: Int) async throws {
        let payload = Self.editedPayloads[index]
        let keys = Mutex<CursorKeys?>(nil)
        try await withApp(configure: { _, services in keys.withLock { $0 = services.cursorKeys } }) { client, _ in
            let serverKeys = try #require(keys.withLock { $0 })
            let cursor = Cursor(sort: payload.sort, value: payload.value, id: UUID(uuidString: Self.id)!).encoded(with: serverKeys)
            let res = try await client.send(.get, Self.uri(payload.query, cursor: cursor))
            #expect(res.status == .badRequest, "\(payload.name): \(res.status) \(res.text)")
            #expect(try problemErrors(res) == ["/query/cursor format"], "\(payload.name)")
        }
    }

    @Test("the same payloads signed and well typed page normally")
    func signedAndWellTyped() async throws {
        let keys = Mutex<CursorKeys?>(nil)
        try await withApp(configure: { _, services in keys.withLock { $0 = services.cursorKeys } }) { client, _ in
            let serverKeys = try #require(keys.withLock { $0 })
            let id = UUID(uuidString: Self.id)!
            for (sort, value, query) in [("-created_at", "2026-01-01 00:00:00+00", ""), ("-rank|agent", "0.5", "q=agent"), ("name", "ab", "sort=name")] {
                let cursor = Cursor(sort: sort, value: value, id: id).encoded(with: serverKeys)
                let res = try await client.send(.get, Self.uri(query, cursor: cursor))
                #expect(res.status == .ok, "\(sort): \(res.status) \(res.text)")
            }
        }
    }

    @Test("/v1/api-keys pages with its signed cursor; an unsigned or edited one is a 400 at /query/cursor")
    func apiKeyListCursor() async throws {
        try await withApp { client, workspace in
            for _ in 0..<2 { _ = try await makeKey(workspace: workspace, scopes: ["agents:read"]) }
            let first = try await client.send(.get, "/v1/api-keys?limit=1").object()
            let cursor = try #require(first.string("next_cursor"))
            let second = try await client.send(.get, "/v1/api-keys?limit=1&cursor=\(cursor)")
            #expect(second.status == .ok)
            #expect(try second.object().array("data").first != first.array("data").first)
            let unsigned = try #require(cursor.split(separator: ".").first.map(String.init))
            for edited in [unsigned, Self.unsigned(sort: "-id", value: Self.id), cursor + "A"] {
                let res = try await client.send(.get, "/v1/api-keys?limit=1&cursor=\(edited)")
                #expect(res.status == .badRequest, "\(edited): \(res.text)")
                #expect(try problemErrors(res) == ["/query/cursor format"])
            }
        }
    }
}
