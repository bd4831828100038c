/// Builds Swift source line by line with managed indentation, so emitters describe
/// structure (blocks, doc comments) instead of concatenating strings with spaces.
struct SwiftWriter {
    private(set) var lines: [String] = []
    private var depth = 0

    mutating func line(_ text: String = "") {
        lines.append(text.isEmpty ? "" : String(repeating: "    ", count: depth) + text)
    }

    /// `header {`, the body one level deeper, then `}` (plus `closing`, e.g. `)`).
    mutating func block(_ header: String, closing: String = "}", _ body: (inout SwiftWriter) -> Void) {
        line(header + " {")
        depth += 1
        body(&self)
        depth -= 1
        line(closing)
    }

    /// Lines indented one level deeper, without braces.
    mutating func indented(_ body: (inout SwiftWriter) -> Void) {
        depth += 1
        body(&self)
        depth -= 1
    }

    /// `/// text` lines; nothing for nil or empty text.
    mutating func doc(_ text: String?) {
        guard let text, !text.isEmpty else { return }
        for part in text.split(separator: "\n", omittingEmptySubsequences: false) {
            line(("/// " + part).trimmingTrailingSpaces)
        }
    }

    var text: String { lines.joined(separator: "\n") + "\n" }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
