import Foundation
import PostgresNIO

/// SplitMix64: a tiny deterministic generator, so every run benchmarks the same inputs.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Nanoseconds of a monotonic clock.
@inline(__always) func monotonicNanos() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}

/// Keeps a computed value alive so the optimizer cannot drop the work that produced it.
@inline(never) func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// Timings of repeated runs of one path over the same inputs.
struct Measurement {
    var label: String
    var seconds: [Double]
    var items: Int
    var bytes: Int

    var best: Double { seconds.min() ?? .nan }
    var median: Double {
        let sorted = seconds.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    func line() -> String {
        let rateBest = Double(items) / best
        let rateMedian = Double(items) / median
        let mbBest = Double(bytes) / best / 1_000_000
        let mbMedian = Double(bytes) / median / 1_000_000
        return label.padding(toLength: 34, withPad: " ", startingAt: 0)
            + "best " + fixed(rateBest, 0).leftPadded(9) + " bodies/s " + fixed(mbBest, 1).leftPadded(7) + " MB/s"
            + "   median " + fixed(rateMedian, 0).leftPadded(9) + " bodies/s " + fixed(mbMedian, 1).leftPadded(7) + " MB/s"
            + "   runs " + seconds.map { fixed($0 * 1000, 0) + "ms" }.joined(separator: " ")
    }
}

func fixed(_ value: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", value)
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// Why a benchmark could not run or its comparison is void; printed as `error: …`.
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The integer value of option `flag`, at least `minimum`.
func integerOption(_ text: String, _ flag: String, atLeast minimum: Int) throws -> Int {
    guard let value = Int(text), value >= minimum else {
        throw BenchmarkError("\(flag) needs an integer of at least \(minimum)")
    }
    return value
}

extension PostgresBindings {
    /// A workspace and an id: the two parameters of every by-id read the benchmarks run.
    static func workspace(_ workspace: UUID, id: UUID) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(workspace)
        bindings.append(id)
        return bindings
    }
}
