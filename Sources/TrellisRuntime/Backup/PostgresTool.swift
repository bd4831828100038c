import Foundation

/// One of PostgreSQL's client programs (`pg_dump`, `pg_restore`), run as a child process against
/// a ``DatabaseURL`` with a time limit.
///
/// The connection goes through libpq's environment (`PGHOST`, `PGPASSWORD`, …), never the
/// command line, so the password is not in `ps` output or in an error message.
struct PostgresTool: Sendable {
    let executable: URL

    /// The newest `/usr/lib/postgresql/*/bin/NAME` (a client at least as new as the server is
    /// what pg_dump needs), else `TRELLIS_PG_BINDIR/NAME`, else `NAME` on `PATH`.
    static func locate(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PostgresTool {
        let files = FileManager.default
        if let dir = environment["TRELLIS_PG_BINDIR"], !dir.isEmpty {
            let url = URL(fileURLWithPath: dir).appendingPathComponent(name)
            guard files.isExecutableFile(atPath: url.path) else {
                throw BackupError("TRELLIS_PG_BINDIR is \(dir), which has no executable \(name)")
            }
            return PostgresTool(executable: url)
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? files.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions {
            let path = "\(root)/\(version)/bin/\(name)"
            if files.isExecutableFile(atPath: path) { return PostgresTool(executable: URL(fileURLWithPath: path)) }
        }
        for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if files.isExecutableFile(atPath: path) { return PostgresTool(executable: URL(fileURLWithPath: path)) }
        }
        throw BackupError("\(name) was not found (install PostgreSQL's client programs, or set TRELLIS_PG_BINDIR)")
    }

    /// Runs the program with `arguments` against `database`, handing its standard output to
    /// `output` in pieces as it arrives. Throws with the last lines of its standard error if it
    /// exits non-zero, and kills it if it runs past `timeout` or the task is cancelled.
    func run(
        _ arguments: [String], database: DatabaseURL, timeout: Duration,
        output: @escaping @Sendable (Data) throws -> Void = { _ in }
    ) async throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = Self.environment(for: database)
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardInput = FileHandle.nullDevice
        let errorLog = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-\(executable.lastPathComponent)-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorLog.path, contents: nil, attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(at: errorLog) }
        let errorHandle = try FileHandle(forWritingTo: errorLog)
        process.standardError = errorHandle
        let name = executable.lastPathComponent

        try process.run()
        try? errorHandle.close()
        let timer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(
            deadline: .now() + .milliseconds(Int(timeout / .milliseconds(1))),
            execute: timer)
        defer { timer.cancel() }
        let started = ContinuousClock.now

        // Blocking reads of the pipe, off the cooperative pool.
        let readResult: Result<Void, any Error> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    let handle = stdout.fileHandleForReading
                    var failure: (any Error)?
                    while true {
                        let data = handle.availableData
                        if data.isEmpty { break }
                        if failure == nil {
                            do { try output(data) } catch {
                                failure = error
                                process.terminate()
                            }
                        }
                    }
                    process.waitUntilExit()
                    continuation.resume(returning: failure.map { .failure($0) } ?? .success(()))
                }
            }
        } onCancel: {
            if process.isRunning { process.terminate() }
        }
        try readResult.get()
        try Task.checkCancellation()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            if ContinuousClock.now - started >= timeout {
                throw BackupError("\(name) did not finish within \(timeout.components.seconds) s (--timeout) and was stopped")
            }
            let text = (try? String(contentsOf: errorLog, encoding: .utf8)) ?? ""
            let tail = text.split(separator: "\n").suffix(6).joined(separator: "\n")
            throw BackupError("\(name) failed (exit \(process.terminationStatus)):\n\(tail)")
        }
    }

    /// libpq's variables for `database`; everything else of this process's environment but
    /// other `PG*` settings, which would quietly redirect the tool.
    static func environment(for database: DatabaseURL) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        env["PGHOST"] = database.host
        env["PGPORT"] = String(database.port)
        env["PGUSER"] = database.username
        env["PGPASSWORD"] = database.password
        env["PGDATABASE"] = database.database ?? database.username
        env["PGSSLMODE"] = database.sslMode.rawValue
        env["PGAPPNAME"] = database.applicationName ?? "trellis-backup"
        env["PGCONNECT_TIMEOUT"] = String(database.connectTimeoutSeconds ?? 10)
        return env
    }
}
