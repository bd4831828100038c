/// A `/metrics` page parsed into samples, so tests can ask for one series by name and labels.
struct PrometheusScrape: CustomStringConvertible {
    /// `name{label="value",…}` with labels sorted by name -> sample value.
    private(set) var samples: [String: Double] = [:]
    let description: String

    init(_ text: String) throws {
        description = text
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw Unexpected(message: "not a sample line: \(line)")
            }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                samples[String(series)] = value
                continue
            }
            let labels = try Self.labels(series[series.index(after: brace)...].dropLast())
            samples[Self.key(String(series[..<brace]), labels)] = value
        }
    }

    /// The sample for `name` with exactly `labels`, nil when the page has none.
    subscript(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples[Self.key(name, labels)]
    }

    /// Every series of `name`, as label sets.
    func series(_ name: String) -> [String] {
        samples.keys.filter { $0 == name || $0.hasPrefix(name + "{") }.sorted()
    }

    private static func key(_ name: String, _ labels: [String: String]) -> String {
        guard !labels.isEmpty else { return name }
        return name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",") + "}"
    }

    /// `a="x",b="y\"z"` -> ["a": "x", "b": "y\"z"].
    private static func labels(_ text: Substring) throws -> [String: String] {
        var labels: [String: String] = [:]
        var rest = text[...]
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "="), rest[rest.index(after: equals)...].first == "\"" else {
                throw Unexpected(message: "bad labels: \(text)")
            }
            let name = String(rest[..<equals])
            var value = ""
            var index = rest.index(equals, offsetBy: 2)
            var escaped = false
            while index < rest.endIndex {
                let character = rest[index]
                index = rest.index(after: index)
                if escaped {
                    value.append(character == "n" ? "\n" : character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    break
                } else {
                    value.append(character)
                }
            }
            labels[name] = value
            rest = rest[index...]
            if rest.first == "," { rest = rest.dropFirst() }
        }
        return labels
    }
}
