/// Reads a scenario's `--flag value` options and bare `--switch`es, refusing unknown flags
/// and missing values, so each scenario states only which options it has and their defaults.
struct ArgumentReader {
    private var values: [String: String] = [:]
    private var present: Set<String> = []

    init(_ arguments: [String], values allowed: Set<String>, switches: Set<String> = []) throws {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            if switches.contains(flag) {
                present.insert(flag)
            } else if allowed.contains(flag) {
                guard let value = rest.popFirst() else { throw BenchmarkError("\(flag) needs a value") }
                values[flag] = value
            } else {
                throw BenchmarkError("unknown option \(flag)")
            }
        }
    }

    /// Whether the switch `flag` was given.
    func has(_ flag: String) -> Bool { present.contains(flag) }

    /// The value of `flag`, else `fallback`.
    func string(_ flag: String, default fallback: String) -> String { values[flag] ?? fallback }

    /// The value of `flag`, if given.
    func string(_ flag: String) -> String? { values[flag] }

    /// The integer value of `flag` (at least `minimum`), else `fallback`.
    func integer(_ flag: String, default fallback: Int, atLeast minimum: Int) throws -> Int {
        guard let text = values[flag] else { return fallback }
        return try integerOption(text, flag, atLeast: minimum)
    }
}
