/// Why a backup or a restore stopped. The message names the file, the table, the migration or
/// the setting at fault, and never holds a password or key material.
public struct BackupError: Error, CustomStringConvertible, Sendable, Hashable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
