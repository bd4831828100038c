/// "Did you mean …?" suggestions for closed vocabularies, by edit distance.
public enum Suggestions {
    /// The candidate closest to `word`, or nil when none is close enough to be a plausible typo.
    /// Case is ignored; a transposition of two neighbouring letters counts as one edit.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        let lowered = word.lowercased()
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let loweredCandidate = candidate.lowercased()
            let distance = editDistance(lowered, loweredCandidate)
            let longest = max(lowered.count, loweredCandidate.count)
            let threshold = longest <= 2 ? 0 : max(1, min(3, longest / 3))
            let isPrefix = lowered.count >= 3 && loweredCandidate.hasPrefix(lowered)
            guard distance <= threshold || isPrefix else { continue }
            if let current = best, current.distance <= distance { continue }
            best = (candidate, distance)
        }
        return best?.candidate
    }

    /// ` (did you mean 'x'?)` or the empty string, ready to append to a message.
    public static func didYouMean(_ word: String, in candidates: [String]) -> String {
        guard let suggestion = closest(to: word, in: candidates) else { return "" }
        return " (did you mean '\(suggestion)'?)"
    }

    /// Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent
    /// transpositions each cost one.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, table[i - 2][j - 2] + 1)
                }
                table[i][j] = value
            }
        }
        return table[a.count][b.count]
    }
}
