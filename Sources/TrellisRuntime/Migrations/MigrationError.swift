/// What can go wrong while loading, applying or rolling back migrations.
///
/// Descriptions are written for the `trellis migrate` command line: they name the file
/// and, for a failing statement, include PostgreSQL's message. They never contain a
/// connection URL or password.
public enum MigrationError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Direction: String, Sendable {
        case up
        case down
    }

    /// A `.sql` file whose name is not `NNNN_name.sql`.
    case invalidFileName(file: String, reason: String)
    /// Two files share a version number.
    case duplicateVersion(version: String, files: [String])
    /// The file has no `-- migrate:up` line.
    case missingUpSection(file: String)
    /// The `-- migrate:up` section holds no statement.
    case emptyUpSection(file: String)
    /// The file breaks the format at `line`.
    case malformedFile(file: String, line: Int, reason: String)
    /// The file or folder cannot be read or written.
    case unreadableFile(file: String, reason: String)
    /// `migrate new` got a name with no usable character.
    case invalidName(String)
    /// An applied migration's file changed since it was applied.
    case checksumMismatch(file: String, version: String, appliedChecksum: String, fileChecksum: String)
    /// The database records a migration whose file is gone.
    case appliedFileMissing(version: String, name: String)
    /// Rolling back needs a `-- migrate:down` section with SQL.
    case missingDownSection(file: String)
    /// `up(to:)` named a version that no file has.
    case unknownTarget(version: String)
    /// `down(steps:)` needs at least one step.
    case invalidSteps(Int)
    /// A statement of a migration failed; PostgreSQL's message and where it happened.
    case sqlFailed(
        file: String,
        direction: Direction,
        line: Int?,
        message: String,
        sqlState: String?,
        detail: String?,
        hint: String?,
        inTransaction: Bool
    )
    /// The migrations bookkeeping (lock, `trellis_migrations`) failed or the database is unreachable.
    case database(operation: String, message: String)

    public var description: String {
        switch self {
        case .invalidFileName(let file, let reason):
            return "\(file): bad migration file name: \(reason)"
        case .duplicateVersion(let version, let files):
            return "migration version \(version) is used by more than one file: \(files.joined(separator: ", ")); renumber one of them"
        case .missingUpSection(let file):
            return "\(file): no '-- migrate:up' line; a migration file has a '-- migrate:up' section and usually a '-- migrate:down' section"
        case .emptyUpSection(let file):
            return "\(file): the '-- migrate:up' section has no SQL; write the statements that apply the migration"
        case .malformedFile(let file, let line, let reason):
            return "\(file):\(line): \(reason)"
        case .unreadableFile(let file, let reason):
            return "\(file): \(reason)"
        case .invalidName(let name):
            return "migration name '\(name)' has no letters or digits; use something like 'add_agents'"
        case .checksumMismatch(let file, _, let applied, let current):
            return "\(file) was changed after it was applied (recorded checksum \(applied.prefix(12))…, file now \(current.prefix(12))…). "
                + "Never edit an applied migration: restore the file and put the change in a new migration (trellis migrate new <name>). "
                + "Nothing was applied."
        case .appliedFileMissing(let version, let name):
            return "migration \(version)_\(name).sql is recorded as applied but its file is missing; restore it (an applied migration must keep its file)"
        case .missingDownSection(let file):
            return "\(file) has no '-- migrate:down' SQL, so it cannot be rolled back; nothing was rolled back"
        case .unknownTarget(let version):
            return "no migration file has version \(version)"
        case .invalidSteps(let steps):
            return "cannot roll back \(steps) step(s); give a number of at least 1"
        case .sqlFailed(let file, let direction, let line, let message, let sqlState, let detail, let hint, let inTransaction):
            var text = "\(file)"
            if let line { text += ":\(line)" }
            text += ": migration failed (\(direction.rawValue)): \(message)"
            if let sqlState { text += " [SQLSTATE \(sqlState)]" }
            if let detail, !detail.isEmpty { text += "\n  detail: \(detail)" }
            if let hint, !hint.isEmpty { text += "\n  hint: \(hint)" }
            if inTransaction {
                text += "\nThe migration was rolled back as a whole; fix \(file) and run the command again."
            } else {
                text += "\nThis migration runs without a transaction (-- migrate:no-transaction): statements before the failing one stayed applied, "
                    + "and it is not recorded as \(direction == .up ? "applied" : "rolled back"). Clean up by hand, then run the command again."
            }
            return text
        case .database(let operation, let message):
            return "migrations: \(operation) failed: \(message)"
        }
    }

    /// The same error naming `path` instead of the bare file name.
    func withFile(_ path: String) -> MigrationError {
        switch self {
        case .invalidFileName(_, let reason): return .invalidFileName(file: path, reason: reason)
        case .missingUpSection: return .missingUpSection(file: path)
        case .emptyUpSection: return .emptyUpSection(file: path)
        case .malformedFile(_, let line, let reason): return .malformedFile(file: path, line: line, reason: reason)
        default: return self
        }
    }
}
