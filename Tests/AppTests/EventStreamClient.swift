import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One Server-Sent Events frame as a client parses it.
struct SSEFrame: Sendable, Hashable {
    var id: String?
    var event: String?
    var data: String?
    /// The text of a comment line (`: heartbeat`), for frames that are only a comment.
    var comment: String?
}

/// A raw HTTP/1.1 client that reads an event stream as it arrives (the test clients collect a
/// whole body, which a stream never ends): status, headers, then frames, chunked encoding
/// decoded. It can also stop reading altogether, to play a slow client.
final class EventStreamClient: Sendable {
    private let channel: any Channel
    private let state = NIOLockedValueBox(State())

    private struct State {
        var raw: [UInt8] = []
        var headerParsed = false
        var status = 0
        var headers: [String: String] = [:]
        var chunked = false
        var text = ""
        var frames: [SSEFrame] = []
        var closed = false
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects to 127.0.0.1:`port` and sends `GET path` with `headers`; `receiveBuffer` sets the
    /// socket's receive buffer (a small one makes a client that stops reading stall the server sooner).
    static func open(port: Int, path: String, headers: [String: String], receiveBuffer: Int? = nil) async throws -> EventStreamClient {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let receiveBuffer {
            bootstrap = bootstrap.channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
        }
        let box = NIOLockedValueBox<EventStreamClient?>(nil)
        let channel = try await bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(Reader(box: box))
            }
        }.connect(host: "127.0.0.1", port: port).get()
        let client = EventStreamClient(channel: channel)
        box.withLockedValue { $0 = client }
        // One response per connection: the server closes it when the stream ends.
        var request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        return client
    }

    /// Stops reading from the socket (the server's writes then back up), or resumes.
    func pauseReading(_ paused: Bool) async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: !paused).get()
        if !paused { channel.read() }
    }

    func close() async {
        try? await channel.close().get()
    }

    var isClosed: Bool { state.withLockedValue(\.closed) }

    /// The status, once the header arrived (waits up to `timeout`).
    func status(within timeout: Duration = .seconds(10)) async throws -> Int {
        try await poll(timeout) { state in state.headerParsed ? state.status : nil } ?? 0
    }

    func header(_ name: String) -> String? {
        state.withLockedValue { $0.headers[name.lowercased()] }
    }

    /// The body so far, for a response that is not a stream (a problem).
    var bodyText: String { state.withLockedValue(\.text) }

    /// The next frame within `timeout` that `matching` accepts (others are skipped); nil if none
    /// came (or the stream ended).
    func next(within timeout: Duration = .seconds(5), matching: @escaping @Sendable (SSEFrame) -> Bool = { $0.comment == nil })
        async throws -> SSEFrame?
    {
        try await poll(timeout) { state in
            while !state.frames.isEmpty {
                let frame = state.frames.removeFirst()
                if matching(frame) { return frame }
            }
            return nil
        }
    }

    /// Every frame `matching` that arrives within `timeout`.
    func frames(for timeout: Duration, matching: @escaping @Sendable (SSEFrame) -> Bool = { $0.comment == nil }) async throws -> [SSEFrame] {
        try await Task.sleep(for: timeout)
        return state.withLockedValue { state in
            defer { state.frames.removeAll() }
            return state.frames.filter(matching)
        }
    }

    private func poll<T: Sendable>(_ timeout: Duration, _ take: @escaping @Sendable (inout State) -> T?) async throws -> T? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let value = state.withLockedValue({ take(&$0) }) { return value }
            if state.withLockedValue(\.closed) { return state.withLockedValue { take(&$0) } }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    fileprivate func received(_ bytes: [UInt8]) {
        state.withLockedValue { state in
            state.raw += bytes
            if !state.headerParsed {
                guard let end = Self.find([13, 10, 13, 10], in: state.raw) else { return }
                let head = String(decoding: state.raw[..<end], as: UTF8.self).components(separatedBy: "\r\n")
                state.status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
                for line in head.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    state.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                state.chunked = state.headers["transfer-encoding"]?.contains("chunked") == true
                state.headerParsed = true
                state.raw.removeFirst(end + 4)
            }
            if state.chunked {
                // Whole chunks only: `<hex>\r\n<bytes>\r\n`.
                while let lineEnd = Self.find([13, 10], in: state.raw) {
                    let sizeText = String(decoding: state.raw[..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                    guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { break }
                    guard state.raw.count >= lineEnd + 2 + size + 2 else { break }
                    state.text += String(decoding: state.raw[(lineEnd + 2)..<(lineEnd + 2 + size)], as: UTF8.self)
                    state.raw.removeFirst(lineEnd + 2 + size + 2)
                }
            } else {
                state.text += String(decoding: state.raw, as: UTF8.self)
                state.raw.removeAll()
            }
            while let range = state.text.range(of: "\n\n") {
                let block = state.text[..<range.lowerBound]
                state.text.removeSubrange(..<range.upperBound)
                var frame = SSEFrame()
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") {
                        frame.comment = String(line.dropFirst()).trimmingCharacters(in: .whitespaces)
                    } else if let colon = line.firstIndex(of: ":") {
                        let value = String(line[line.index(after: colon)...].drop { $0 == " " })
                        switch line[..<colon] {
                        case "id": frame.id = value
                        case "event": frame.event = value
                        case "data": frame.data = (frame.data.map { $0 + "\n" } ?? "") + value
                        default: break
                        }
                    }
                }
                if frame.id != nil || frame.event != nil || frame.data != nil { frame.comment = nil }
                if frame != SSEFrame() { state.frames.append(frame) }
            }
        }
    }

    fileprivate func ended() {
        state.withLockedValue { $0.closed = true }
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }

    private final class Reader: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let box: NIOLockedValueBox<EventStreamClient?>

        init(box: NIOLockedValueBox<EventStreamClient?>) {
            self.box = box
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            let bytes = Array(buffer.readableBytesView)
            box.withLockedValue { $0 }?.received(bytes)
        }

        func channelInactive(context: ChannelHandlerContext) {
            box.withLockedValue { $0 }?.ended()
            context.fireChannelInactive()
        }
    }
}
