import Foundation

// MARK: - wrk

/// Runs `wrk` as a child process and reads its report.
struct WRK: Sendable {
    let binary: URL
    let connections: Int
    let threads: Int

    /// One wrk run's numbers; latencies in milliseconds.
    struct Result: Sendable {
        var requestsPerSecond: Double
        var requests: Int
        var p50: Double?
        var p99: Double?
        /// Non-2xx/3xx responses plus socket errors.
        var failures: Int

        var line: String {
            fixed(requestsPerSecond, 0).leftPadded(9) + " req/s   p50 " + AuthOverheadBenchmark.millis(p50 ?? .nan).leftPadded(8)
                + "   p99 " + AuthOverheadBenchmark.millis(p99 ?? .nan).leftPadded(8) + "   \(requests) requests"
                + (failures > 0 ? "   \(failures) FAILED" : "")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Loads `url` for `seconds`; `script` is a wrk Lua file (for POSTs and their bodies).
    func run(url: String, authorization: String?, seconds: Int, script: URL? = nil) async throws -> Result {
        var arguments = ["-t", "\(threads)", "-c", "\(connections)", "-d", "\(seconds)s", "--latency"]
        if let authorization { arguments += ["-H", "Authorization: \(authorization)"] }
        if let script { arguments += ["-s", script.path] }
        arguments.append(url)
        let report = try await Self.capture(binary, arguments)
        guard let result = Self.parse(report) else {
            throw Failure(description: "could not read wrk's report:\n\(report)")
        }
        return result
    }

    /// Runs the process to its end without blocking a thread of the concurrency pool (which
    /// serves the HTTP server too): output goes to a file, the end arrives by termination handler.
    static func capture(_ binary: URL, _ arguments: [String]) async throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-wrk-\(UUID().uuidString).txt")
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
            throw Failure(description: "cannot create \(file.path)")
        }
        defer { try? FileManager.default.removeItem(at: file) }
        let output = try FileHandle(forWritingTo: file)
        defer { try? output.close() }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        guard status == 0 else { throw Failure(description: "wrk exited with status \(status):\n\(text)") }
        return text
    }

    /// Reads `Requests/sec:`, `N requests in …`, the `--latency` percentiles and any errors.
    static func parse(_ report: String) -> Result? {
        var rate: Double?
        var requests = 0
        var p50: Double?
        var p99: Double?
        var failures = 0
        for line in report.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first else { continue }
            switch first {
            case "Requests/sec:": rate = words.count > 1 ? Double(words[1]) : nil
            case "50%": p50 = words.count > 1 ? milliseconds(words[1]) : nil
            case "99%": p99 = words.count > 1 ? milliseconds(words[1]) : nil
            case "Non-2xx": failures += words.last.flatMap { Int($0) } ?? 1
            case "Socket":
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                failures += words.compactMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: ","))) }.reduce(0, +)
            default:
                if words.count > 2, words[1] == "requests", words[2] == "in", let count = Int(first) { requests = count }
            }
        }
        guard let rate else { return nil }
        return Result(requestsPerSecond: rate, requests: requests, p50: p50, p99: p99, failures: failures)
    }

    /// `812.00us`, `1.25ms`, `2.01s`, `1.00m` in milliseconds.
    static func milliseconds(_ text: Substring) -> Double? {
        for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return nil
    }
}
