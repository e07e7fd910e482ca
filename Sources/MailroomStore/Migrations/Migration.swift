public import Foundation

/// One numbered SQL file from the migrations folder (`NNNN_name.sql`).
public struct Migration: Sendable, Hashable {
    /// The number before the first underscore; migrations apply in this order.
    public let version: Int
    /// The file name, e.g. `0001_mailboxes.sql`.
    public let name: String
    /// The SQL text, applied in one transaction.
    public let sql: String
    /// SHA-256 of the file's bytes, lowercase hex.
    public let checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = MigrationChecksum.sha256Hex(Array(sql.utf8))
    }

    /// Loads every `*.sql` file of a folder, ordered by version.
    /// - Throws: ``MigrationError`` for an unreadable folder, a file not named `NNNN_name.sql`, or a repeated number.
    public static func load(from directory: URL) throws(MigrationError) -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError(.unreadableDirectory, "cannot read migrations folder \(directory.path)")
        }
        var migrations: [Migration] = []
        for name in names where name.hasSuffix(".sql") {
            let digits = name.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, name.dropFirst(digits.count).first == "_", let version = Int(digits) else {
                throw MigrationError(.badFileName, "\(name) is not named NNNN_description.sql")
            }
            let url = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw MigrationError(.unreadableDirectory, "cannot read \(url.path)")
            }
            migrations.append(Migration(version: version, name: name, sql: String(decoding: data, as: UTF8.self)))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw MigrationError(.badFileName, "\(previous.name) and \(next.name) share version \(next.version)")
        }
        return migrations
    }
}
