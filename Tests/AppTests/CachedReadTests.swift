import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import TrellisRedis
import TrellisTestSupport
@testable import TrellisRuntime

/// Cached `get` and `list` through the real router (issue 10, item 3): the guarantee of
/// DESIGN.md §6 across instances, answers without Postgres, validators, and Redis failures.
@Suite("Cached reads: read-your-writes across instances, no Postgres on a hit, ETag and 304", .serialized)
struct CachedReadTests {
    static let quiet = ReadCacheTests.quiet

    static func cache(_ redis: RedisClient, _ outcomes: ReadCacheTests.Outcomes = .init()) -> ReadCache {
        ReadCache(redis: redis, resources: TrellisApp.api.resources.map(\.descriptor), logger: quiet) { outcomes.record($0) }
    }

    static func header(_ response: TestResponse, _ name: String) -> String? {
        response.headers[HTTPField.Name(name)!]
    }

    @Test func aHitIsAnsweredByAnInstanceThatCannotReachPostgres() async throws {
        let jwt = try await TestJWT.authenticator()
        // Instance B's pool points at a port nothing listens on, and it authenticates by JWT
        // (no key look-up): whatever it answers from the cache touched no Postgres.
        let nowhere = "postgres://trellis_app:trellis_app@127.0.0.1:\(try freeLocalPort())/trellis_test"
        let shortLease = {
            var timeouts = Timeouts()
            timeouts.poolLease = .seconds(1)
            return timeouts
        }()
        try await ReadCacheTests.withConnectedRedis { first in
            try await ReadCacheTests.withConnectedRedis { second in
                try await withApp(readCache: Self.cache(first)) { a, workspace in
                    let id = try await a.send(.post, "/v1/agents", json: #"{"name":"cached"}"#).object().id()
                    _ = try await a.send(.post, "/v1/agents", json: #"{"name":"second"}"#).object().id()
                    let got = try await a.send(.get, "/v1/agents/\(id)")
                    let listed = try await a.send(.get, "/v1/agents?limit=5&is_active=true")
                    #expect(got.status == .ok && listed.status == .ok)

                    let outcomes = ReadCacheTests.Outcomes()
                    try await withApp(jwt: jwt, timeouts: shortLease, readCache: Self.cache(second, outcomes), databaseURL: nowhere) { b, _ in
                        let token = TestJWT.make(claims: TestJWT.claims(workspace: workspace))
                        let hit = try await b.send(.get, "/v1/agents/\(id)", as: .bearer(token))
                        #expect(hit.status == .ok)
                        #expect(hit.text == got.text)
                        #expect(Self.header(hit, "ETag") == Self.header(got, "ETag"))
                        let page = try await b.send(.get, "/v1/agents?is_active=true&limit=5", as: .bearer(token))
                        #expect(page.status == .ok)
                        #expect(page.text == listed.text)
                        #expect(try page.object().array("data").count == 2)
                        #expect(outcomes[.hit] == 2)
                        // Anything not cached needs Postgres, which this instance cannot reach.
                        let uncached = try await b.send(.get, "/v1/agents/\(UUID().uuidString.lowercased())", as: .bearer(token))
                        #expect(uncached.status == .serviceUnavailable)
                    }
                }
            }
        }
    }

    @Test func fiftyWriterReaderPairsOnTwoInstancesNeverReadOlderThanAReturnedWrite() async throws {
        let workspaces = 10
        let pairsPerWorkspace = 5
        let rounds = 3
        var keys: [String] = []
        for _ in 0..<workspaces {
            keys.append(try await makeKey(workspace: try await TestDatabase.shared.makeWorkspace(), scopes: ["*"]).token.text)
        }
        let allKeys = keys
        let outcomes = ReadCacheTests.Outcomes()
        try await ReadCacheTests.withConnectedRedis { first in
            try await ReadCacheTests.withConnectedRedis { second in
                try await withApp(readCache: Self.cache(first)) { writer, _ in
                    try await withApp(readCache: Self.cache(second, outcomes)) { reader, _ in
                        let stale = try await withThrowingTaskGroup(of: [String].self) { group in
                            for pair in 0..<(workspaces * pairsPerWorkspace) {
                                let key = allKeys[pair % workspaces]
                                group.addTask {
                                    try await Self.writeThenRead(writer: writer, reader: reader, key: key, rounds: rounds, pair: pair)
                                }
                            }
                            return try await group.reduce(into: []) { $0 += $1 }
                        }
                        #expect(stale.count == 0, "stale reads, the first: \(stale.prefix(5))")
                        // The reader's answers came through its cache: once the writes stop,
                        // a page read twice is a hit the second time.
                        _ = try await reader.send(.get, "/v1/agents?limit=100", as: .bearer(allKeys[0]))
                        let hits = outcomes[.hit]
                        _ = try await reader.send(.get, "/v1/agents?limit=100", as: .bearer(allKeys[0]))
                        #expect(outcomes[.hit] == hits + 1)
                    }
                }
            }
        }
        #expect(outcomes[.bypass] == 0)
    }

    /// One pair: the writer (instance A) changes its agent; after each write returns, the
    /// reader (instance B) reads it by id and in a list. Returns every read that showed an
    /// older version than the write's.
    static func writeThenRead(writer: APIClient, reader: APIClient, key: String, rounds: Int, pair: Int) async throws -> [String] {
        let created = try await writer.send(.post, "/v1/agents", json: #"{"name":"pair \#(pair)","role":"r0"}"#, as: .bearer(key))
        let id = try created.object().id()
        // Fill the cache with the first version, so later reads have an entry to go stale.
        _ = try await reader.send(.get, "/v1/agents/\(id)", as: .bearer(key))
        var stale: [String] = []
        for round in 1...rounds {
            let updated = try await writer.send(.patch, "/v1/agents/\(id)", json: #"{"role":"r\#(round)"}"#, as: .bearer(key))
            guard updated.status == .ok, case let .integer(written)? = try updated.object()["version"] else {
                throw Unexpected(message: "the write failed: \(updated.status) \(updated.text)")
            }
            let got = try await reader.send(.get, "/v1/agents/\(id)", as: .bearer(key))
            guard got.status == .ok, case let .integer(read)? = try got.object()["version"] else {
                throw Unexpected(message: "the read failed: \(got.status) \(got.text)")
            }
            if read < written { stale.append("get: v\(read) after v\(written) returned") }
            let page = try await reader.send(.get, "/v1/agents?limit=100", as: .bearer(key))
            guard page.status == .ok else { throw Unexpected(message: "the list failed: \(page.status) \(page.text)") }
            let item = try page.object().array("data").first { $0.object?.string("id") == id }
            if case let .integer(listed)? = item?.object?["version"] {
                if listed < written { stale.append("list: v\(listed) after v\(written) returned") }
            } else {
                stale.append("list: agent missing after v\(written) returned")
            }
        }
        return stale
    }

    @Test func cacheableAnswersCarryETagAndPrivateNoCacheAndA304StillHonoursIfNoneMatch() async throws {
        try await ReadCacheTests.withConnectedRedis { redis in
            let outcomes = ReadCacheTests.Outcomes()
            try await withApp(readCache: Self.cache(redis, outcomes)) { client, _ in
                let id = try await client.send(.post, "/v1/agents", json: #"{"name":"tagged"}"#).object().id()
                let first = try await client.send(.get, "/v1/agents/\(id)")
                #expect(Self.header(first, "ETag") == "\"1\"")
                #expect(Self.header(first, "Cache-Control") == "private, no-cache")
                // Answered from the cache, the tag still decides: 304 without a body.
                let revalidated = try await client.send(.get, "/v1/agents/\(id)", headers: [.ifNoneMatch: "\"1\""])
                #expect(revalidated.status == .notModified)
                #expect(revalidated.body.readableBytes == 0)
                #expect(Self.header(revalidated, "ETag") == "\"1\"")
                #expect(outcomes[.hit] >= 1)

                let page = try await client.send(.get, "/v1/agents")
                let pageTag = try #require(Self.header(page, "ETag"))
                #expect(Self.header(page, "Cache-Control") == "private, no-cache")
                #expect(try await client.send(.get, "/v1/agents", headers: [.ifNoneMatch: pageTag]).status == .notModified)
                #expect(try await client.send(.get, "/v1/agents", headers: [.ifNoneMatch: "W/" + pageTag]).status == .notModified)

                // After a write, the old tags no longer match: 200 with the new ones.
                #expect(try await client.send(.patch, "/v1/agents/\(id)", json: #"{"role":"x"}"#).status == .ok)
                let changed = try await client.send(.get, "/v1/agents/\(id)", headers: [.ifNoneMatch: "\"1\""])
                #expect(changed.status == .ok && Self.header(changed, "ETag") == "\"2\"")
                let newPage = try await client.send(.get, "/v1/agents", headers: [.ifNoneMatch: pageTag])
                #expect(newPage.status == .ok && Self.header(newPage, "ETag") != pageTag)

                // A resource without a cache policy: no Cache-Control, no page tag.
                let swarms = try await client.send(.get, "/v1/swarms")
                #expect(Self.header(swarms, "Cache-Control") == nil && Self.header(swarms, "ETag") == nil)
            }
        }
    }

    @Test func writesThroughJSONRPCGraphQLAndADeletedSwarmAreSeenByTheNextCachedRead() async throws {
        try await ReadCacheTests.withConnectedRedis { redis in
            let outcomes = ReadCacheTests.Outcomes()
            try await withApp(readCache: Self.cache(redis, outcomes)) { client, _ in
                let swarm = try await client.send(.post, "/v1/swarms", json: #"{"name":"s"}"#).object().id()
                let id = try await client.send(.post, "/v1/agents", json: #"{"name":"a","swarm_id":"\#(swarm)"}"#).object().id()
                func role() async throws -> JSONValue? { try await client.send(.get, "/v1/agents/\(id)").object()["role"] }
                func swarmID() async throws -> JSONValue? { try await client.send(.get, "/v1/agents/\(id)").object()["swarm_id"] }
                _ = try await role()
                _ = try await role()
                #expect(outcomes[.hit] >= 1)

                // JSON-RPC: the write moves the generation; its get reads the same entries.
                let rpc = try await client.send(.post, "/v1/rpc", json: #"{"jsonrpc":"2.0","id":1,"method":"agents.update","params":{"id":"\#(id)","role":"from rpc"}}"#)
                #expect(rpc.status == .ok)
                #expect(try await role() == .string("from rpc"))
                let hits = outcomes[.hit]
                let rpcGet = try await client.send(.post, "/v1/rpc", json: #"{"jsonrpc":"2.0","id":2,"method":"agents.get","params":{"id":"\#(id)"}}"#).object()
                #expect(rpcGet["result"]?.object?["role"] == .string("from rpc"))
                #expect(outcomes[.hit] == hits + 1)

                // GraphQL.
                let mutation = #"{"query":"mutation { updateAgent(id: \"\#(id)\", input: {role: \"from graphql\"}) { id } }"}"#
                #expect(try await client.send(.post, "/v1/graphql", json: mutation).status == .ok)
                #expect(try await role() == .string("from graphql"))

                // Deleting the swarm sets the agent's swarm_id to null in Postgres: seen at once.
                #expect(try await swarmID() == .string(swarm))
                #expect(try await client.send(.delete, "/v1/swarms/\(swarm)").status == .noContent)
                #expect(try await swarmID() == .null)
            }
        }
    }

    @Test func redisStoppedMidTestEveryAnswerIsFromPostgresAndNoneIsA5xx() async throws {
        try await withPrivateRedisServer { server in
            try await withRedisClient(configuration: try RedisConfiguration(url: server.url), logger: Self.quiet) { redis in
                let outcomes = ReadCacheTests.Outcomes()
                try await withApp(readCache: Self.cache(redis, outcomes)) { client, _ in
                    let id = try await client.send(.post, "/v1/agents", json: #"{"name":"r"}"#).object().id()
                    #expect(try await client.send(.get, "/v1/agents/\(id)").status == .ok)
                    #expect(try await client.send(.get, "/v1/agents/\(id)").status == .ok)
                    #expect(outcomes[.hit] == 1)

                    await server.stop()
                    for round in 0..<5 {
                        let write = try await client.send(.patch, "/v1/agents/\(id)", json: #"{"role":"down \#(round)"}"#)
                        #expect(write.status == .ok)
                        let read = try await client.send(.get, "/v1/agents/\(id)")
                        #expect(read.status == .ok)
                        #expect(try read.object()["role"] == .string("down \(round)"))
                        #expect(try await client.send(.get, "/v1/agents").status == .ok)
                    }
                    #expect(outcomes[.bypass] >= 10)
                    #expect(try await client.send(.get, "/health/ready", as: .anonymous).object().string("status") == "degraded")

                    // Back (empty): the cache fills again, and what it serves is current.
                    try await server.start()
                    try await eventually("the cache to answer again", within: .seconds(10)) {
                        _ = try await client.send(.get, "/v1/agents/\(id)")
                        return try await client.send(.get, "/v1/agents/\(id)").object()["role"] == .string("down 4")
                            && outcomes[.hit] > 1
                    }
                }
            }
        }
    }

    @Test func whileAGenerationCannotMoveThisInstanceReadsItFromPostgres() async throws {
        // Redis answers reads but holds every write (CLIENT PAUSE … WRITE): the write's
        // generation move times out, yet the entry of the old generation is still readable.
        try await withPrivateRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.commandTimeout = .seconds(1)
            try await withRedisClient(configuration: configuration, logger: Self.quiet) { redis in
                try await eventually("the Redis pool to connect", within: .seconds(20)) { redis.liveConnections == configuration.poolSize }
                let outcomes = ReadCacheTests.Outcomes()
                try await withApp(readCache: Self.cache(redis, outcomes)) { client, _ in
                    let id = try await client.send(.post, "/v1/agents", json: #"{"name":"p","role":"before"}"#).object().id()
                    _ = try await client.send(.get, "/v1/agents/\(id)")
                    #expect(try await client.send(.get, "/v1/agents/\(id)").object()["role"] == .string("before"))
                    #expect(outcomes[.hit] == 1)

                    let admin = try RedisConfiguration(url: server.url)
                    try await withRedisClient(configuration: admin, logger: Self.quiet) { admin in
                        _ = try await admin.send("CLIENT", "PAUSE", "30000", "WRITE")
                    }
                    #expect(try await client.send(.patch, "/v1/agents/\(id)", json: #"{"role":"after"}"#).status == .ok)
                    #expect(try await client.send(.get, "/v1/agents/\(id)").object()["role"] == .string("after"))
                    #expect(outcomes[.bypass] >= 1)
                    try await withRedisClient(configuration: admin, logger: Self.quiet) { admin in
                        _ = try await admin.send("CLIENT", "UNPAUSE")
                    }
                    // Once Redis takes writes again, the move is retried and the cache is used.
                    try await eventually("the cache to answer again", within: .seconds(10)) {
                        let role = try await client.send(.get, "/v1/agents/\(id)").object()["role"]
                        #expect(role == .string("after"))
                        return outcomes[.hit] > 1
                    }
                }
            }
        }
    }

    /// Every key carries its workspace as a Redis Cluster hash tag, and no command or script
    /// touches two slots: checked on a real one-node cluster (every slot on one node), which
    /// refuses a cross-slot command with CROSSSLOT. Rate limits, cached reads and a delete
    /// that moves several generations at once all run against it without a single fallback.
    @Test func onARedisClusterNodeNoCommandCrossesASlotAndEveryKeyCarriesItsWorkspace() async throws {
        let nodes = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-cluster-\(UUID().uuidString).conf").path
        defer { try? FileManager.default.removeItem(atPath: nodes) }
        let clusterArguments = ["--cluster-enabled", "yes", "--cluster-port", "\(try freeLocalPort())", "--cluster-config-file", nodes]
        try await withPrivateRedisServer(clusterArguments) { server in
            let configuration = try RedisConfiguration(url: server.url)
            try await withRedisClient(configuration: configuration, logger: Self.quiet) { redis in
                try await eventually("the Redis pool to connect", within: .seconds(20)) { redis.liveConnections == configuration.poolSize }
                _ = try await redis.send("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
                try await eventually("the one-node cluster to serve every slot", within: .seconds(20)) {
                    try await redis.send("CLUSTER", "INFO").string?.contains("cluster_state:ok") == true
                }
                // The node refuses what a cluster would.
                await #expect(throws: RedisError.self) { try await redis.send("MGET", "{a}:x", "{b}:y") }

                let outcomes = ReadCacheTests.Outcomes()
                let limiter = RateLimiter(redis: redis, logger: Self.quiet)
                try await withApp(rateLimiter: limiter, readCache: Self.cache(redis, outcomes)) { client, workspace in
                    let swarm = try await client.send(.post, "/v1/swarms", json: #"{"name":"s"}"#).object().id()
                    let id = try await client.send(.post, "/v1/agents", json: #"{"name":"c","swarm_id":"\#(swarm)"}"#).object().id()
                    for _ in 0..<2 {
                        #expect(try await client.send(.get, "/v1/agents/\(id)").status == .ok)
                        #expect(try await client.send(.get, "/v1/agents?limit=5").status == .ok)
                    }
                    // One script moves agents', messages' and swarms' generations together.
                    #expect(try await client.send(.delete, "/v1/swarms/\(swarm)").status == .noContent)
                    #expect(try await client.send(.get, "/v1/agents/\(id)").object()["swarm_id"] == .null)
                    #expect(try await client.send(.get, "/v1/agents", as: .anonymous).status == .unauthorized)

                    #expect(outcomes[.bypass] == 0 && outcomes[.hit] >= 2)
                    #expect(limiter.fallbackDecisions == 0 && limiter.redisDecisions >= 8)
                    let keys = try #require(try await redis.send("KEYS", "*").array).compactMap(\.string)
                    let tag = "{" + workspace.uuidString.lowercased() + "}:"
                    #expect(keys.contains(tag + "c:agents:gen") && keys.contains(tag + "c:messages:gen") == false)
                    #expect(keys.contains { $0.hasPrefix(tag + "rl:") } && keys.contains { $0.hasPrefix("{anon}:rl:") })
                    for key in keys {
                        #expect(key.hasPrefix(tag) || key.hasPrefix("{anon}:"), "\(key) carries no workspace hash tag")
                    }
                }
            }
        }
    }

}
