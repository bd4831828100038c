import Foundation
import TrellisRuntime

/// Another server of the same API on this machine (the Python baseline of
/// `Benchmarks/python-baseline/`), which `request-path --versus FIXTURE` loads round by round
/// beside Trellis: each of its routes runs right after (or, every other round, right before)
/// Trellis's route of the same shape, so both see the machine in the same minute. Measured one
/// whole run after the other, the two stacks saw the VM's speed drift by a quarter between
/// their phases, more than the margins the ratios leave.
struct OtherStack {
    /// Trellis's route label, the other stack's path, whether it sends the token, and the goal:
    /// Trellis's req/s at least `goal` times the other's.
    struct Route {
        var label: String
        var path: String
        var authorized: Bool
        var goal: Double?
    }

    var url: String
    var token: String
    var agentID: String
    /// The process listening on the port (uvicorn's master), whose family's CPU is measured.
    var processID: Int32?

    /// Reads what `seed.py` wrote (`token` or the first of `tokens`, and `agent_id`) and finds
    /// the process listening on `url`'s port.
    init(fixture path: String, url: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchmarkError("--versus: cannot read \(path)") }
        guard case let .object(object) = try JSONValue(parsing: Array(data)) else {
            throw BenchmarkError("--versus: \(path) is not a JSON object")
        }
        var token: String?
        if case let .string(text)? = object["token"] { token = text }
        if token == nil, case let .object(tokens)? = object["tokens"] { token = tokens.members.first?.key }
        guard let token, case let .string(agent)? = object["agent_id"] else {
            throw BenchmarkError("--versus: \(path) names no token or agent_id (write it with python-baseline/seed.py --out)")
        }
        guard let port = URLComponents(string: url)?.port else { throw BenchmarkError("--versus-url: \(url) names no port") }
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
        self.agentID = agent
        self.processID = Self.listener(port: port)
    }

    /// The routes both stacks serve, and the goals for them.
    var routes: [Route] {
        [
            Route(label: "live", path: "/hello", authorized: false, goal: nil),
            Route(label: "get", path: "/v1/agents/\(agentID)", authorized: true, goal: 2),
            Route(label: "list", path: "/v1/agents?limit=20", authorized: true, goal: 3),
        ]
    }

    /// The process listening on `port` on this machine: with several workers sharing the
    /// socket, their common parent (uvicorn's master), so the family's CPU is the server's.
    static func listener(port: Int) -> Int32? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ss", "-Hltnp", "( sport = :\(port) )"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        var pids = Set<Int32>()
        var rest = output[...]
        while let range = rest.range(of: "pid=") {
            rest = rest[range.upperBound...]
            if let pid = Int32(rest.prefix { $0.isNumber }) { pids.insert(pid) }
        }
        // The master holds the socket with its workers: it is the one whose parent is not listed.
        let roots = pids.filter { pid in ProcessCPU.parentPID(of: pid).map { !pids.contains($0) } ?? false }
        if roots.count == 1 { return roots.first }
        // Only the workers are listed: their common parent.
        let parents = Set(roots.compactMap(ProcessCPU.parentPID(of:)))
        return roots.count > 1 && parents.count == 1 ? parents.first : nil
    }
}
