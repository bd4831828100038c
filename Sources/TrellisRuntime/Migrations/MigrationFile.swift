/// One versioned SQL migration, `migrations/NNNN_name.sql`.
///
/// File format:
/// ```sql
/// -- migrate:up
/// CREATE TABLE widgets (id uuid PRIMARY KEY);
///
/// -- migrate:down
/// DROP TABLE widgets;
/// ```
/// A section whose first line is `-- migrate:no-transaction` runs outside a transaction
/// (needed for `CREATE INDEX CONCURRENTLY`); the marker on the file's first line, above
/// `-- migrate:up`, applies to both sections.
public struct MigrationFile: Sendable, Hashable {
    /// The numeric prefix of the file name, e.g. `"0001"`.
    public var version: String
    /// The rest of the file name without `.sql`, e.g. `"create_agents"`.
    public var name: String
    /// SQL that applies the migration.
    public var up: String
    /// SQL that rolls it back; empty when the file has none.
    public var down: String
    /// Lowercase hex SHA-256 of the whole file.
    public var checksum: String

    /// Line in the file where `up` / `down` start (0 when built in code), used in error messages.
    var upLineOffset: Int = 0
    var downLineOffset: Int = 0

    public init(version: String, name: String, up: String, down: String, checksum: String) {
        self.version = version
        self.name = name
        self.up = up
        self.down = down
        self.checksum = checksum
    }

    /// Parses the contents of `fileName` (`NNNN_name.sql`). The checksum covers `contents`.
    public init(fileName: String, contents: String) throws {
        let (version, name) = try Self.parseFileName(fileName)
        let sections = try MigrationFileParser.parse(contents, file: fileName)
        self.init(
            version: version,
            name: name,
            up: sections.up,
            down: sections.down,
            checksum: MigrationChecksum.sha256Hex(contents)
        )
        self.upLineOffset = sections.upLineOffset
        self.downLineOffset = sections.downLineOffset
    }

    /// `NNNN_name.sql`.
    public var fileName: String {
        "\(version)_\(name).sql"
    }

    /// False when the up section starts with `-- migrate:no-transaction`.
    public var upRunsInTransaction: Bool {
        !MigrationFileParser.hasNoTransactionMarker(up)
    }

    /// False when the down section starts with `-- migrate:no-transaction`.
    public var downRunsInTransaction: Bool {
        !MigrationFileParser.hasNoTransactionMarker(down)
    }

    /// True when the down section holds at least one statement.
    public var hasDown: Bool {
        !SQLStatementSplitter.split(down).isEmpty
    }

    static func parseFileName(_ fileName: String) throws -> (version: String, name: String) {
        let expected = "expected NNNN_name.sql: digits, an underscore, then lowercase letters, digits and underscores"
        guard fileName.hasSuffix(".sql") else {
            throw MigrationError.invalidFileName(file: fileName, reason: expected)
        }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else {
            throw MigrationError.invalidFileName(file: fileName, reason: expected)
        }
        let version = String(stem[..<underscore])
        let name = String(stem[stem.index(after: underscore)...])
        guard !version.isEmpty, version.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }) else {
            throw MigrationError.invalidFileName(file: fileName, reason: "the version prefix must be digits; \(expected)")
        }
        guard !name.isEmpty, name.unicodeScalars.allSatisfy(MigrationDirectory.isNameCharacter) else {
            throw MigrationError.invalidFileName(file: fileName, reason: "the name must be lowercase letters, digits and underscores; \(expected)")
        }
        return (version, name)
    }
}

extension MigrationFile {
    /// Orders versions numerically (`"9"` < `"0010"`), then textually.
    static func versionPrecedes(_ a: String, _ b: String) -> Bool {
        let ta = a.drop(while: { $0 == "0" })
        let tb = b.drop(while: { $0 == "0" })
        if ta.count != tb.count { return ta.count < tb.count }
        if ta != tb { return ta < tb }
        return a < b
    }

    /// Versions are equal when they are the same number (`"1"` and `"0001"`).
    static func sameVersion(_ a: String, _ b: String) -> Bool {
        a.drop(while: { $0 == "0" }) == b.drop(while: { $0 == "0" })
    }
}

enum MigrationFileParser {
    static let upMarker = "-- migrate:up"
    static let downMarker = "-- migrate:down"
    static let noTransactionMarker = "-- migrate:no-transaction"

    struct Sections {
        var up: String
        var down: String
        var upLineOffset: Int
        var downLineOffset: Int
    }

    static func parse(_ contents: String, file: String) throws -> Sections {
        enum Section { case preamble, up, down }
        var section = Section.preamble
        var up: [Substring] = []
        var down: [Substring] = []
        var upLine: Int? = nil
        var downLine: Int? = nil
        var fileLevelNoTransaction = false
        var lineNumber = 0
        for line in contents.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = trim(line)
            let directive = trimmed.lowercased()
            if directive == upMarker {
                if upLine != nil {
                    throw MigrationError.malformedFile(file: file, line: lineNumber, reason: "a second '\(upMarker)' line; each section appears once")
                }
                upLine = lineNumber
                section = .up
                continue
            }
            if directive == downMarker {
                if downLine != nil {
                    throw MigrationError.malformedFile(file: file, line: lineNumber, reason: "a second '\(downMarker)' line; each section appears once")
                }
                downLine = lineNumber
                section = .down
                continue
            }
            switch section {
            case .preamble:
                if directive == noTransactionMarker && lineNumber == 1 {
                    fileLevelNoTransaction = true
                } else if !trimmed.isEmpty && !trimmed.hasPrefix("--") {
                    throw MigrationError.malformedFile(
                        file: file, line: lineNumber,
                        reason: "SQL before the '\(upMarker)' line; put the statements under '\(upMarker)' (and their undo under '\(downMarker)')"
                    )
                }
            case .up:
                up.append(line)
            case .down:
                down.append(line)
            }
        }
        guard let upLine else {
            throw MigrationError.missingUpSection(file: file)
        }
        var upText = up.joined(separator: "\n")
        var downText = down.joined(separator: "\n")
        if SQLStatementSplitter.split(upText).isEmpty {
            throw MigrationError.emptyUpSection(file: file)
        }
        if fileLevelNoTransaction {
            if !hasNoTransactionMarker(upText) { upText = noTransactionMarker + "\n" + upText }
            if !downText.isEmpty && !hasNoTransactionMarker(downText) {
                downText = noTransactionMarker + "\n" + downText
            }
        }
        return Sections(
            up: upText,
            down: downText,
            upLineOffset: upLine,
            downLineOffset: downLine ?? 0
        )
    }

    /// True when the first non-blank line of `sql` is `-- migrate:no-transaction`.
    static func hasNoTransactionMarker(_ sql: String) -> Bool {
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = trim(line)
            if trimmed.isEmpty { continue }
            return trimmed.lowercased() == noTransactionMarker
        }
        return false
    }
}

extension MigrationFileParser {
    static func trim(_ line: Substring) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = line.firstIndex(where: { !isSpace($0) }),
            let last = line.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(line[first...last])
    }
}
