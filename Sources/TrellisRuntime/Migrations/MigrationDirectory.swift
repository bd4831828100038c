import Foundation

/// Reads and creates the `NNNN_name.sql` files of a migrations folder.
public enum MigrationDirectory {
    /// Loads every `*.sql` file in `url`, sorted by version. Other files (README, .gitkeep)
    /// are ignored; a folder that does not exist holds no migrations.
    ///
    /// Throws ``MigrationError`` naming the file for a bad file name, a duplicate version,
    /// a missing or empty `-- migrate:up` section, SQL above it, or bytes that are not UTF-8.
    public static func load(_ url: URL) throws -> [MigrationFile] {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            return []
        }
        guard isDirectory.boolValue else {
            throw MigrationError.unreadableFile(file: url.path, reason: "not a directory")
        }
        let names: [String]
        do {
            names = try fileManager.contentsOfDirectory(atPath: url.path)
        } catch {
            throw MigrationError.unreadableFile(file: url.path, reason: "cannot list the directory (\(error.localizedDescription))")
        }
        var files: [MigrationFile] = []
        var seen: [String: String] = [:]  // normalized version -> file name
        for fileName in names.sorted() where fileName.hasSuffix(".sql") {
            let fileURL = url.appendingPathComponent(fileName)
            var isDir: ObjCBool = false
            guard fileManager.fileExists(atPath: fileURL.path, isDirectory: &isDir), !isDir.boolValue else {
                continue
            }
            let data: Data
            do {
                data = try Data(contentsOf: fileURL)
            } catch {
                throw MigrationError.unreadableFile(file: fileURL.path, reason: error.localizedDescription)
            }
            guard let contents = String(data: data, encoding: .utf8) else {
                throw MigrationError.unreadableFile(file: fileURL.path, reason: "the file is not valid UTF-8")
            }
            let file: MigrationFile
            do {
                file = try MigrationFile(fileName: fileName, contents: contents)
            } catch let error as MigrationError {
                throw error.withFile(fileURL.path)
            }
            let key = String(file.version.drop(while: { $0 == "0" }))
            if let other = seen[key] {
                throw MigrationError.duplicateVersion(
                    version: file.version,
                    files: [url.appendingPathComponent(other).path, fileURL.path]
                )
            }
            seen[key] = fileName
            files.append(file)
        }
        return files.sorted { MigrationFile.versionPrecedes($0.version, $1.version) }
    }

    /// Creates `NNNN_<name>.sql` in `url` (the folder is created if needed) with the next
    /// four-digit version after the highest one present, and returns its URL.
    ///
    /// `name` is lowercased and every run of characters outside `[a-z0-9_]` becomes `_`
    /// ("Add Agents!" -> `add_agents`). Empty `up`/`down` write a commented template.
    public static func create(in url: URL, name: String, up: String = "", down: String = "") throws -> URL {
        let slug = sanitize(name)
        guard !slug.isEmpty else {
            throw MigrationError.invalidName(name)
        }
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw MigrationError.unreadableFile(file: url.path, reason: "cannot create the directory (\(error.localizedDescription))")
        }
        // Number from the file names alone: an earlier template may still be empty.
        var next = 1
        let names = (try? fileManager.contentsOfDirectory(atPath: url.path)) ?? []
        for fileName in names where fileName.hasSuffix(".sql") {
            guard let (version, _) = try? MigrationFile.parseFileName(fileName) else { continue }
            let digits = version.drop(while: { $0 == "0" })
            guard let number = Int(digits.isEmpty ? "0" : digits) else {
                throw MigrationError.invalidFileName(file: fileName, reason: "the version is too large to continue numbering")
            }
            next = max(next, number + 1)
        }
        var version = String(next)
        if version.count < 4 {
            version = String(repeating: "0", count: 4 - version.count) + version
        }
        let fileURL = url.appendingPathComponent("\(version)_\(slug).sql")
        let upBody = up.isEmpty ? "-- Write the SQL that applies this migration.\n" : ensureNewline(up)
        let downBody = down.isEmpty ? "-- Write the SQL that undoes it.\n" : ensureNewline(down)
        let text = """
            -- migrate:up
            \(upBody)
            -- migrate:down
            \(downBody)
            """
        guard fileManager.createFile(atPath: fileURL.path, contents: Data(text.utf8)) else {
            throw MigrationError.unreadableFile(file: fileURL.path, reason: "cannot write the file")
        }
        return fileURL
    }

    /// Lowercases `name` and turns every run of other characters into one `_`.
    static func sanitize(_ name: String) -> String {
        var out = ""
        var pendingUnderscore = false
        for scalar in name.lowercased().unicodeScalars {
            if isNameCharacter(scalar) && scalar != "_" {
                if pendingUnderscore && !out.isEmpty { out.append("_") }
                pendingUnderscore = false
                out.unicodeScalars.append(scalar)
            } else {
                pendingUnderscore = true
            }
        }
        return out
    }

    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") || scalar == "_"
    }

    private static func ensureNewline(_ text: String) -> String {
        text.hasSuffix("\n") ? text : text + "\n"
    }
}
