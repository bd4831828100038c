/// Collects every diagnostic of one schema load; the loader fails at the end if any is an error.
final class DiagnosticCollector {
    private(set) var diagnostics: [Diagnostic] = []

    func error(_ message: String, at location: SourceLocation?) {
        diagnostics.append(.error(message, at: location))
    }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    /// Diagnostics sorted by file, line and column; diagnostics without a location come first.
    var sorted: [Diagnostic] {
        diagnostics.enumerated().sorted { lhs, rhs in
            switch (lhs.element.location, rhs.element.location) {
            case let (l?, r?): l == r ? lhs.offset < rhs.offset : l < r
            case (nil, _?): true
            case (_?, nil): false
            case (nil, nil): lhs.offset < rhs.offset
            }
        }.map(\.element)
    }
}
