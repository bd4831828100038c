import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOConcurrencyHelpers
import NIOWebSocket
import TrellisTestSupport
@testable import TrellisRuntime

/// A real WebSocket client (hummingbird-websocket's) for the tests: keeps every text message it
/// receives, sends on demand, and reports how the server closed the connection.
final class WebSocketTestClient: Sendable {
    private struct State {
        var messages: [String] = []
        var read = 0
        var outbound: WebSocketOutboundWriter?
        var closed = false
        var closeFrame: WebSocketCloseFrame?
        var failure: String?
    }

    private let state = NIOLockedValueBox(State())
    private let stop = AsyncStream<Void>.makeStream()

    /// Connects to `ws://127.0.0.1:<port><path>`; returns once the upgrade succeeded, or throws
    /// (the upgrade was refused: see ``EventStreamClient`` for reading the refusal itself).
    static func connect(port: Int, path: String, headers: HTTPFields = [:]) async throws -> WebSocketTestClient {
        let client = WebSocketTestClient()
        let (opened, open) = AsyncStream<Bool>.makeStream()
        let state = client.state
        let stop = client.stop.stream
        Task {
            do {
                let frame = try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)\(path)", configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers),
                    logger: silentLogger
                ) { inbound, outbound, _ in
                    state.withLockedValue { $0.outbound = outbound }
                    open.yield(true)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await message in inbound.messages(maxSize: 1 << 22) {
                                if case let .text(text) = message { state.withLockedValue { $0.messages.append(text) } }
                            }
                        }
                        group.addTask {
                            for await _ in stop { break }
                            try await outbound.close(.normalClosure, reason: nil)
                        }
                        _ = try await group.next()
                        group.cancelAll()
                    }
                }
                state.withLockedValue {
                    $0.closeFrame = frame
                    $0.closed = true
                }
            } catch {
                state.withLockedValue {
                    $0.failure = String(describing: error)
                    $0.closed = true
                }
            }
            open.yield(false)
            open.finish()
        }
        for await success in opened {
            if success { return client }
            break
        }
        throw Unexpected(message: "the WebSocket upgrade of \(path) failed: \(client.state.withLockedValue { $0.failure ?? "closed" })")
    }

    func send(_ text: String) async throws {
        guard let outbound = state.withLockedValue(\.outbound) else { throw Unexpected(message: "not connected") }
        try await outbound.writeTextMessage(text)
    }

    /// The next message not yet read, waiting up to `within`; nil if none came (or the connection closed).
    func next(within limit: Duration = .seconds(10)) async throws -> String? {
        let deadline = ContinuousClock.now + limit
        while true {
            let (message, closed) = state.withLockedValue { state -> (String?, Bool) in
                guard state.read < state.messages.count else { return (nil, state.closed) }
                state.read += 1
                return (state.messages[state.read - 1], false)
            }
            if let message { return message }
            if closed || ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The next message, as a JSON object; throws when none came.
    func nextObject(within limit: Duration = .seconds(10)) async throws -> JSONObject {
        guard let text = try await next(within: limit) else { throw Unexpected(message: "no message within \(limit)") }
        guard case let .object(object) = try JSONValue(parsing: text) else { throw Unexpected(message: "not an object: \(text)") }
        return object
    }

    /// Messages arriving within `period`, without waiting for more.
    func messages(for period: Duration) async throws -> [String] {
        try await Task.sleep(for: period)
        return state.withLockedValue { state in
            defer { state.read = state.messages.count }
            return Array(state.messages[state.read...])
        }
    }

    var isClosed: Bool { state.withLockedValue(\.closed) }
    /// The server's close code, once closed.
    var closeCode: UInt16? {
        state.withLockedValue { state in
            guard let code = state.closeFrame?.closeCode else { return nil }
            return UInt16(webSocketErrorCode: code)
        }
    }

    func close() async {
        stop.continuation.yield()
        _ = try? await eventually("the WebSocket to close", within: .seconds(10)) { isClosed }
    }
}
