import Foundation
import TrellisRuntime

/// What a login costs the server (issue 10, item 4): one scrypt derivation per attempt, at
/// several costs, one at a time and two at once (this machine has two cores), beside the
/// SHA-256 that checks an API key's secret, in the same run. Sets `TRELLIS_PASSWORD_COST`
/// with numbers: the default `ln=15,r=8,p=1` must stay well under a request deadline and
/// leave login throughput far above the per-address budget.
enum PasswordHashBenchmark: BenchmarkScenario {
    static let name = "password-hash"
    static let summary = "one scrypt derivation per login at ln=14…17 and the default (ms, logins/s one and two at once) beside SHA-256"
    static let options = """
        --rounds N           derivations per cost and phase (default 20)
        """

    static func run(arguments: [String]) async throws {
        let reader = try ArgumentReader(arguments, values: ["--rounds"], switches: [])
        let rounds = try reader.integer("--rounds", default: 20, atLeast: 2)
        let password = "correct horse battery staple"

        let sha = try await RateLimitBenchmark.sequential(rounds * 1_000) { _ in
            _ = APIKeyToken.hash(password)
        }
        say("password-hash: \(rounds) derivations per cost and phase, on NIO's blocking pool like the server")
        say("(OWASP's scrypt minimum is ln=17,r=8,p=1; ln=15,r=8,p=3 is its equivalent in a quarter of the memory)")
        say("")
        say("cost              memory    p50 ms    p99 ms   logins/s (1 at once)   logins/s (2 at once)")
        say("SHA-256 (API key)      -" + fixed(sha.p50 / 1_000, 3).leftPadded(10) + fixed(sha.p99 / 1_000, 3).leftPadded(10)
            + fixed(sha.rate, 0).leftPadded(23) + "                      -")
        let costs = (14...17).map { PasswordHasher.Cost(logN: $0, blockSize: 8, parallelism: 1) } + [.standard]
        for cost in costs {
            let hasher = PasswordHasher(cost: cost)
            let stored = try await hasher.hash(password)
            let one = try await RateLimitBenchmark.sequential(rounds) { _ in _ = try await hasher.verify(password, against: stored) }
            let two = try await RateLimitBenchmark.concurrent(rounds, 2) { _ in _ = try await hasher.verify(password, against: stored) }
            let mebibytes = 128 * cost.blockSize * (1 << cost.logN) / 1_048_576
            say("\(cost)".padding(toLength: 16, withPad: " ", startingAt: 0) + "\(mebibytes) MiB".leftPadded(8)
                + fixed(one.p50 / 1_000, 1).leftPadded(10) + fixed(one.p99 / 1_000, 1).leftPadded(10)
                + fixed(one.rate, 1).leftPadded(23) + fixed(two.rate, 1).leftPadded(23)
                + (cost == .standard ? "   <- default" : ""))
        }
    }
}
