import Foundation
import TrellisRuntime

// Benchmarks for Trellis: `swift run -c release --scratch-path .build-release TrellisBenchmarks <scenario> [options]`.
// Each scenario is a small type with a name, a one-line summary and a `run(arguments:)`; add new
// ones to `Scenarios.all` below. See Benchmarks/README.md. `run` is async because some scenarios
// run a server and Postgres clients; CPU-only scenarios simply never suspend.

protocol BenchmarkScenario {
    static var name: String { get }
    static var summary: String { get }
    static var options: String { get }
    static func run(arguments: [String]) async throws
}

enum Scenarios {
    static var all: [any BenchmarkScenario.Type] {
        [
            ValidatorBenchmark.self,
            AuthOverheadBenchmark.self,
            PoolIsolationBenchmark.self,
            RequestPathBenchmark.self,
            RowCodecBenchmark.self,
            RateLimitBenchmark.self,
            PasswordHashBenchmark.self,
            JobsBenchmark.self,
        ]
    }

    static var usage: String {
        var text = "usage: TrellisBenchmarks <scenario> [options]\n\nscenarios:\n"
        for scenario in all {
            text += "  " + scenario.name.padding(toLength: 15, withPad: " ", startingAt: 0) + scenario.summary + "\n"
            if !scenario.options.isEmpty {
                text += scenario.options.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n") + "\n"
            }
        }
        text += "\nBuild in release: swift run -c release --scratch-path .build-release TrellisBenchmarks <scenario>\n"
        return text
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

// Like `trellis serve`, run Swift Concurrency's jobs on NIO's event loops unless told not to
// (so a run can compare both); it must happen before any task starts.
var arguments = Array(CommandLine.arguments.dropFirst())
if let flag = arguments.firstIndex(of: "--default-executor") {
    arguments.remove(at: flag)
} else {
    TrellisServer.useEventLoopsAsGlobalExecutor()
}
guard let first = arguments.first, !["-h", "--help", "help"].contains(first) else {
    print(Scenarios.usage, terminator: "")
    exit(0)
}
guard let scenario = Scenarios.all.first(where: { $0.name == first }) else {
    printError("unknown scenario '\(first)'\n\n" + Scenarios.usage)
    exit(64)
}
do {
    try await scenario.run(arguments: Array(arguments.dropFirst()))
} catch {
    printError("error: \(error)\n")
    exit(1)
}
