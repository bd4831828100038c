import Foundation
import Logging
import Testing

@testable import TrellisRuntime

@Suite("JSON log handler")
struct JSONLogHandlerTests {
    private func written(_ value: Logger.Metadata.Value) throws -> JSONValue {
        var w = JSONWriter()
        JSONLogHandler.writeValue(value, to: &w)
        return try JSONValue(parsing: w.bytes)
    }

    @Test("integers of every width are JSON numbers, a UInt64 above Int64.max included (it used to trap)")
    func wideIntegers() throws {
        #expect(try written(.stringConvertible(UInt64.max)) == JSONValue(parsing: Array("18446744073709551615".utf8)))
        #expect(try written(.stringConvertible(UInt64(Int64.max) + 1)) == JSONValue(parsing: Array("9223372036854775808".utf8)))
        #expect(try written(.stringConvertible(Int64.min)) == .integer(.min))
        #expect(try written(.stringConvertible(UInt8(7))) == .integer(7))
        #expect(try written(.stringConvertible(-3)) == .integer(-3))
    }

    /// The lines `body` logs through a handler writing to a pipe, parsed.
    private func lines(component: Bool = true, _ body: (Logger) -> Void) throws -> [JSONObject] {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var logger = Logger(label: "test") { JSONLogHandler(label: $0, level: .info, fileDescriptor: fds[1]) }
        logger[metadataKey: "hb.request.id"] = "7"
        if component { logger[metadataKey: "component"] = "tests" }
        body(logger)
        close(fds[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fds[0], &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        return try bytes.split(separator: UInt8(ascii: "\n")).map { line in
            let value = try JSONValue(parsing: Array(line))
            guard case let .object(object) = value else {
                Issue.record("not an object: \(value)")
                return JSONObject()
            }
            return object
        }
    }

    @Test("a line written while a request's scope is bound names its id, workspace and credential; the event's own metadata wins")
    func requestScope() throws {
        let workspace = UUID()
        let identity = Identity(workspaceID: workspace, kind: .apiKey, credentialID: "key_1", scopes: ScopeSet(["*"]))
        let logged = try lines { logger in
            logger.info("outside")
            RequestLogScope.$current.withValue(RequestLogScope(requestID: "req_a")) {
                logger.info("anonymous")
                RequestLogScope.$current.withValue(RequestLogScope(requestID: "req_a", identity: identity)) {
                    logger.info("authenticated")
                    logger.info("overridden", metadata: ["workspace": "mine"])
                }
            }
        }
        #expect(logged.count == 4)
        #expect(logged.map { $0.text("message") } == ["outside", "anonymous", "authenticated", "overridden"])
        #expect(logged[0]["request_id"] == nil && logged[0]["workspace"] == nil)
        #expect(logged[1].text("request_id") == "req_a" && logged[1]["workspace"] == nil && logged[1]["credential_id"] == nil)
        #expect(logged[2].text("request_id") == "req_a")
        #expect(logged[2].text("workspace") == workspace.lowercasedString)
        #expect(logged[2].text("credential_id") == identity.actor)
        #expect(logged[3].text("workspace") == "mine")
        for line in logged {
            // Hummingbird's id repeats ours: left out. The logger's own metadata stays.
            #expect(line["hb.request.id"] == nil)
            #expect(line.text("component") == "tests")
            // Keys stay sorted after the level, logger and message, scope keys among them.
            let keys = line.members.map(\.key).dropFirst(4)
            #expect(Array(keys) == keys.sorted(), "\(keys)")
        }
    }

    @Test("a request's access line written straight is the line logging it with metadata writes, key for key, in order")
    func accessLineFastPath() throws {
        let identity = Identity(workspaceID: UUID(), kind: .apiKey, credentialID: "key_1", scopes: ScopeSet(["*"]))
        for scope in [RequestLogScope(requestID: "req_a"), RequestLogScope(requestID: "req_b", identity: identity)] {
            let logged = try lines(component: false) { logger in
                RequestLogScope.$current.withValue(scope) {
                    logger.info("request", metadata: [
                        "method": .string("GET"), "route": .string("/v1/agents/{id}"), "status": .stringConvertible(200),
                        "duration_ms": .stringConvertible(1.25),
                    ])
                }
                let handler = try! #require(logger.handler as? JSONLogHandler)
                #expect(handler.logRequest(method: "GET", route: "/v1/agents/{id}", status: 200, durationMilliseconds: 1.25, scope: scope))
            }
            #expect(logged.count == 2)
            guard logged.count == 2 else { continue }
            let (slow, fast) = (logged[0].members.filter { $0.key != "timestamp" }, logged[1].members.filter { $0.key != "timestamp" })
            #expect(fast.map(\.key) == slow.map(\.key))
            #expect(fast.map(\.value) == slow.map(\.value))
            #expect(logged[1].text("request_id") == scope.requestID)
        }
        // A logger with metadata of its own (a trace id) is left to the usual path.
        let logged = try lines { logger in
            let handler = try! #require(logger.handler as? JSONLogHandler)
            #expect(!handler.logRequest(method: "GET", route: "/v1/agents", status: 200, durationMilliseconds: 1, scope: RequestLogScope(requestID: "r")))
        }
        #expect(logged.isEmpty)
    }

    @Test("doubles stay numbers; other values are their description")
    func otherValues() throws {
        #expect(try written(.stringConvertible(1.5)) == .double(1.5))
        #expect(try written(.stringConvertible(true)) == .string("true"))
    }
}

private extension JSONObject {
    func text(_ key: String) -> String? {
        if case let .string(value)? = self[key] { return value }
        return nil
    }
}
