import Foundation
import Logging
import PostgresNIO
import TrellisRuntime
#if canImport(Glibc)
import Glibc
#endif

/// CPU time and memory of this process and of a local Postgres, read from the kernel, so a
/// load run can say how many microseconds of CPU each request cost on each side.
enum ProcessCPU {
    /// User + system CPU time this process has used, in microseconds (`getrusage`, µs resolution).
    static func selfMicros() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let user = Double(usage.ru_utime.tv_sec) * 1e6 + Double(usage.ru_utime.tv_usec)
        let system = Double(usage.ru_stime.tv_sec) * 1e6 + Double(usage.ru_stime.tv_usec)
        return user + system
    }

    /// User + system CPU time of the process `parent` and its children, in microseconds, from
    /// `/proc/<pid>/stat` (clock-tick resolution, 10 ms at the usual 100 Hz): a postmaster and its
    /// backends, checkpointer and WAL writer, or uvicorn's master and its workers. A child that
    /// exits during a run takes its time with it, which is why the benchmarks measure over
    /// long-lived connections and workers.
    static func familyMicros(of parent: Int32) -> Double? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        var ticks = 0
        var found = false
        for entry in entries {
            guard let pid = Int32(entry), let stat = stat(pid) else { continue }
            if pid == parent || stat.parent == parent {
                ticks += stat.ticks
                found = true
            }
        }
        guard found else { return nil }
        return Double(ticks) * 1e6 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// User + system CPU time of one process (a local `redis-server`), in microseconds, from
    /// `/proc/<pid>/stat` (clock-tick resolution).
    static func processMicros(_ pid: Int32) -> Double? {
        stat(pid).map { Double($0.ticks) * 1e6 / Double(sysconf(Int32(_SC_CLK_TCK))) }
    }

    /// The parent of `pid` (a Postgres backend's parent is the postmaster).
    static func parentPID(of pid: Int32) -> Int32? {
        stat(pid)?.parent
    }

    /// This process's resident set now and at its peak, in MiB (`VmRSS`, `VmHWM`).
    static func residentMiB() -> (now: Double, peak: Double)? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        func kib(_ key: String) -> Double? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return nil }
            return line.split(separator: " ").dropFirst().first.flatMap { Double($0) }
        }
        guard let now = kib("VmRSS"), let peak = kib("VmHWM") else { return nil }
        return (now / 1024, peak / 1024)
    }

    /// Where this process's resident memory is, in MiB, from `/proc/self/smaps`: the program's
    /// own file (code and constants), shared libraries, the `brk` heap, anonymous mappings
    /// (malloc's other arenas, thread stacks, the Swift runtime's metadata and task slabs) and
    /// the rest; plus the thread count, since every thread brings a stack and an arena.
    static func residentBreakdown() -> (parts: [(name: String, mib: Double)], threads: Int)? {
        // Read to the end: procfs files report size 0, and a single read stops at a page or so.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps"),
              let data = try? handle.readToEnd()
        else { return nil }
        let smaps = String(decoding: data, as: UTF8.self)
        let program = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var kib: [String: Double] = [:]
        var current = "other"
        for line in smaps.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), fields.count >= 5, !first.hasSuffix(":") {
                // A mapping's header: address range, permissions, offset, device, inode, [path].
                let path = fields.count >= 6 ? fields[5...].joined(separator: " ") : ""
                current = switch path {
                case "": "anonymous (malloc arenas, thread stacks, Swift runtime)"
                case "[heap]": "heap (brk)"
                case "[stack]": "main thread stack"
                case program: "program (code, constants)"
                case let p where p.contains(".so"): "shared libraries"
                default: "other"
                }
            } else if first == "Rss:", fields.count >= 2, let value = Double(fields[1]) {
                kib[current, default: 0] += value
            }
        }
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
        let parts = kib.map { (name: $0.key, mib: $0.value / 1024) }.sorted { $0.mib > $1.mib }
        return (parts, threads)
    }

    /// Fields 4 (ppid), 14 (utime) and 15 (stime) of `/proc/<pid>/stat`; the command name (field
    /// 2) may hold spaces and parentheses, so fields are counted after its closing parenthesis.
    private static func stat(_ pid: Int32) -> (parent: Int32, ticks: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field n is fields[n - 3].
        guard fields.count > 12, let parent = Int32(fields[1]), let user = Int(fields[11]), let system = Int(fields[12]) else {
            return nil
        }
        return (parent, user + system)
    }
}

/// Executions and plannings of the tenant reads (`trellis_read`, the one-statement wrapper)
/// of one role in `pg_stat_statements`, to show that a steady load re-plans nothing once its
/// prepared statements are warm; background statements (key-cache polls, audit sealing) are
/// left out. Nil when the extension is not installed in the database or its statements'
/// text is not readable by the owner role (see Benchmarks/README.md).
enum StatementPlans {
    struct Counts {
        var calls: Int64
        var plans: Int64
    }

    static func snapshot(ownerURL: String, role: String, logger: Logger) async -> Counts? {
        guard let configuration = try? DatabaseURL(ownerURL).clientConfiguration else { return nil }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return await withTaskGroup(of: Counts?.self) { tasks in
            tasks.addTask {
                await client.run()
                return nil
            }
            defer { tasks.cancelAll() }
            let rows = try? await client.query(
                """
                SELECT coalesce(sum(s.calls), 0)::int8, coalesce(sum(s.plans), 0)::int8
                FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                WHERE r.rolname = \(role) AND s.query LIKE '%trellis_read%' AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                """, logger: logger
            ).decode((Int64, Int64).self).all()
            return rows?.first.map { Counts(calls: $0.0, plans: $0.1) }
        }
    }
}
