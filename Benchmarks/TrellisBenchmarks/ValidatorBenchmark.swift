import App
import Foundation
import TrellisRuntime

/// The validator benchmark of the issue: decode+validate typical agent-create bodies with the
/// generated validator (`JSONValue(parsing:)` + `AgentCreate.validate`) versus plain
/// `JSONDecoder` into a `Decodable` struct with the same fields. Goal: the validator costs no
/// more than 1.5x `JSONDecoder` while reporting every problem.
enum ValidatorBenchmark: BenchmarkScenario {
    static let name = "validator"
    static let summary = "decode+validate agent-create bodies: generated validator vs JSONDecoder"
    static let options = """
        --count N   bodies to generate (default 100000)
        --runs R    timed runs per path, best and median reported (default 3)
        --seed S    generator seed (default 42)
        """

    struct Options {
        var count = 100_000
        var runs = 3
        var seed: UInt64 = 42
    }

    static func parse(_ arguments: [String]) throws -> Options {
        let reader = try ArgumentReader(arguments, values: ["--count", "--runs", "--seed"])
        var options = Options()
        options.count = try reader.integer("--count", default: options.count, atLeast: 1)
        options.runs = try reader.integer("--runs", default: options.runs, atLeast: 1)
        if let text = reader.string("--seed") {
            guard let seed = UInt64(text) else { throw BenchmarkError("--seed needs an unsigned integer") }
            options.seed = seed
        }
        return options
    }


    // MARK: The paths being compared

    /// (a) what the server does: parse to `JSONValue`, then run the generated validator.
    @inline(never)
    static func validatorPass(_ bodies: [[UInt8]]) -> (accepted: Int, checksum: Int) {
        var accepted = 0
        var checksum = 0
        for body in bodies {
            guard let json = try? JSONValue(parsing: body) else { continue }
            if case let .valid(agent) = AgentCreate.validate(json) {
                accepted += 1
                checksum &+= agent.name.utf8.count &+ (agent.tags?.count ?? 0)
            }
        }
        return (accepted, checksum)
    }

    /// (b) the baseline: `JSONDecoder` into a plain `Decodable` with the same fields.
    @inline(never)
    static func decoderPass<T: Decodable>(_ bodies: [Data], as type: T.Type, decoder: JSONDecoder) -> (accepted: Int, checksum: Int) {
        var accepted = 0
        var checksum = 0
        for body in bodies {
            if let value = try? decoder.decode(T.self, from: body) {
                accepted += 1
                checksum &+= MemoryLayout.size(ofValue: value)
                blackHole(value)
            }
        }
        return (accepted, checksum)
    }

    /// Parse only (the first half of (a)).
    @inline(never)
    static func parsePass(_ bodies: [[UInt8]]) -> (accepted: Int, checksum: Int) {
        var accepted = 0
        var checksum = 0
        for body in bodies {
            if let json = try? JSONValue(parsing: body), case let .object(object) = json {
                accepted += 1
                checksum &+= object.count
            }
        }
        return (accepted, checksum)
    }

    /// Validate only, on bodies parsed beforehand (the second half of (a)).
    @inline(never)
    static func validatePass(_ parsed: [JSONValue]) -> (accepted: Int, checksum: Int) {
        var accepted = 0
        var checksum = 0
        for json in parsed {
            if case let .valid(agent) = AgentCreate.validate(json) {
                accepted += 1
                checksum &+= agent.name.utf8.count
            }
        }
        return (accepted, checksum)
    }

    // MARK: Running

    static func time(_ body: () -> (accepted: Int, checksum: Int)) -> (seconds: Double, accepted: Int) {
        let start = monotonicNanos()
        let result = body()
        let elapsed = Double(monotonicNanos() - start) / 1e9
        blackHole(result.checksum)
        return (elapsed, result.accepted)
    }

    static func run(arguments: [String]) async throws {
        let options = try parse(arguments)
        print("Trellis validator benchmark")
        print("generating \(options.count) agent-create bodies (seed \(options.seed))…")
        let bodies = AgentBodies.make(count: options.count, seed: options.seed)
        let datas = bodies.map { Data($0) }
        let totalBytes = bodies.reduce(0) { $0 + $1.count }
        let sizes = bodies.map(\.count).sorted()
        print("bodies: \(bodies.count), \(fixed(Double(totalBytes) / 1_000_000, 1)) MB, "
            + "size min/median/max \(sizes.first!)/\(sizes[sizes.count / 2])/\(sizes.last!) bytes")
        print("example: " + String(decoding: bodies[0], as: UTF8.self))
        print()

        let decoder = JSONDecoder()
        let parsed = bodies.map { try! JSONValue(parsing: $0) }

        // Sanity first: every body must be accepted by every path, or the comparison is void.
        let sanity: [(String, Int)] = [
            ("validator (parse + validate)", validatorPass(bodies).accepted),
            ("JSONDecoder (config: [String: AnyJSON])", decoderPass(datas, as: AgentCreateDecodable.self, decoder: decoder).accepted),
            ("JSONDecoder (config: typed struct)", decoderPass(datas, as: AgentCreateTypedConfigDecodable.self, decoder: decoder).accepted),
        ]
        print("sanity: bodies accepted")
        for (label, accepted) in sanity {
            print("  " + label.padding(toLength: 42, withPad: " ", startingAt: 0) + "\(accepted) / \(bodies.count)"
                + (accepted == bodies.count ? "" : "   <-- NOT ALL ACCEPTED"))
        }
        print()
        reportProblemsDemo(bodies[0])

        // Warm-up: one pass of each path over a slice (caches, allocator, lazy metadata).
        let warm = Array(bodies.prefix(10_000))
        let warmData = Array(datas.prefix(10_000))
        _ = validatorPass(warm)
        _ = decoderPass(warmData, as: AgentCreateDecodable.self, decoder: decoder)
        _ = decoderPass(warmData, as: AgentCreateTypedConfigDecodable.self, decoder: decoder)
        _ = parsePass(warm)
        _ = validatePass(Array(parsed.prefix(10_000)))

        var validator = Measurement(label: "(a) validator: parse + validate", seconds: [], items: bodies.count, bytes: totalBytes)
        var jsonDecoder = Measurement(label: "(b) JSONDecoder, config AnyJSON", seconds: [], items: bodies.count, bytes: totalBytes)
        var typedDecoder = Measurement(label: "(b') JSONDecoder, config typed", seconds: [], items: bodies.count, bytes: totalBytes)
        var parseOnly = Measurement(label: "(a1) JSONValue(parsing:) only", seconds: [], items: bodies.count, bytes: totalBytes)
        var validateOnly = Measurement(label: "(a2) AgentCreate.validate only", seconds: [], items: bodies.count, bytes: totalBytes)
        for run in 1...options.runs {
            // Interleaved, so drift (thermal, other load) affects every path alike.
            validator.seconds.append(time { validatorPass(bodies) }.seconds)
            jsonDecoder.seconds.append(time { decoderPass(datas, as: AgentCreateDecodable.self, decoder: decoder) }.seconds)
            typedDecoder.seconds.append(time { decoderPass(datas, as: AgentCreateTypedConfigDecodable.self, decoder: decoder) }.seconds)
            parseOnly.seconds.append(time { parsePass(bodies) }.seconds)
            validateOnly.seconds.append(time { validatePass(parsed) }.seconds)
            printError("run \(run)/\(options.runs) done\n")
        }

        print("results (\(options.runs) runs each, \(bodies.count) bodies per run)")
        for m in [validator, jsonDecoder, typedDecoder, parseOnly, validateOnly] {
            print("  " + m.line())
        }
        print()
        let ratioBest = validator.best / jsonDecoder.best
        let ratioMedian = validator.median / jsonDecoder.median
        print("ratio validator / JSONDecoder time:         best \(fixed(ratioBest, 2))x   median \(fixed(ratioMedian, 2))x")
        print("ratio validator / JSONDecoder (typed) time: best \(fixed(validator.best / typedDecoder.best, 2))x   "
            + "median \(fixed(validator.median / typedDecoder.median, 2))x")
        print("split of (a): parse \(fixed(100 * parseOnly.median / (parseOnly.median + validateOnly.median), 0))%, "
            + "validate \(fixed(100 * validateOnly.median / (parseOnly.median + validateOnly.median), 0))% (medians)")
        print("goal (validator <= 1.5x JSONDecoder): " + (ratioMedian <= 1.5 ? "met" : "NOT met") + " (median ratio \(fixed(ratioMedian, 2))x)")
    }

    /// Shows that the validator reports every problem of a bad body, where JSONDecoder stops at the first.
    static func reportProblemsDemo(_ body: [UInt8]) {
        guard case var .object(object) = try? JSONValue(parsing: body) else { return }
        func set(_ key: String, _ value: JSONValue) {
            object.members.removeAll { $0.key == key }
            object.members.append(JSONObject.Member(key: key, value: value))
        }
        set("name", .string(""))
        set("temperature", .double(3.5))
        set("model", .string("llama"))
        set("tags", .array([.string("ok"), .integer(7)]))
        set("id", .string("x"))
        set("colour", .string("red"))
        let bad = JSONValue.object(object)
        var problems: [FieldProblem] = []
        if case let .invalid(list) = AgentCreate.validate(bad) { problems = list }
        var decoderError = "accepted"
        do {
            _ = try JSONDecoder().decode(AgentCreateDecodable.self, from: Data(bad.jsonText.utf8))
        } catch {
            decoderError = "threw on the first problem"
        }
        print("bad body with 6 problems: validator reports \(problems.count) ("
            + problems.map { "\($0.path) \($0.code.rawValue)" }.joined(separator: ", ") + "); JSONDecoder \(decoderError)")
        print()
    }
}
