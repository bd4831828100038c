extension AsyncSequence {
    /// Every element, in order: for the small result sets of platform queries.
    public func all() async throws -> [Element] {
        var out: [Element] = []
        for try await element in self { out.append(element) }
        return out
    }
}
