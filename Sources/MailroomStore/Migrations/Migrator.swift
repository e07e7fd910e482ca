internal import Foundation
public import Logging
public import MailroomPostgres

/// Applies numbered SQL migrations in order, each in its own transaction, recording each in
/// `schema_migrations` with its checksum.
///
/// Running it twice changes nothing. A migration that was applied and then edited is refused: schema changes
/// go in a new file. Concurrent migrators wait for each other on an advisory lock.
public struct Migrator: Sendable {
    /// What one run did.
    public struct Report: Sendable, Equatable {
        /// Migrations applied by this run, in order.
        public var applied: [String] = []
        /// Migrations that were already applied and unchanged.
        public var alreadyApplied: [String] = []
    }

    /// An arbitrary constant that names Mailroom's migration lock among advisory locks.
    static let advisoryLockKey: Int64 = 0x6D61_696C_726F_6F6D  // "mailroom"

    let logger: Logger

    public init(logger: Logger = Logger(label: "mailroom.migrate")) {
        self.logger = logger
    }

    /// Applies what is pending.
    /// - Throws: ``MigrationError`` (edited or unknown migration, failing SQL) or ``PostgresError``.
    public func migrate(_ migrations: [Migration], on connection: PostgresConnection) async throws -> Report {
        try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
        do {
            let report = try await migrateLocked(migrations, on: connection)
            try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
            return report
        } catch {
            if connection.isConnected {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
            }
            throw error
        }
    }

    private func migrateLocked(_ migrations: [Migration], on connection: PostgresConnection) async throws -> Report {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     integer     PRIMARY KEY,
                name        text        NOT NULL,
                checksum    text        NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        var applied: [Int: (name: String, checksum: String)] = [:]
        for row in try await connection.query("SELECT version, name, checksum FROM schema_migrations") {
            let (version, name, checksum) = try row.decode(Int32.self, String.self, String.self)
            applied[Int(version)] = (name, checksum)
        }

        let known = Set(migrations.map(\.version))
        if let unknown = applied.keys.sorted().first(where: { !known.contains($0) }), let entry = applied[unknown] {
            throw MigrationError(
                .unknownAppliedMigration,
                "the database has migration \(entry.name), which is not in the migrations folder; "
                    + "this mailroom is older than the schema"
            )
        }

        var report = Report()
        for migration in migrations {
            if let existing = applied[migration.version] {
                guard existing.checksum == migration.checksum else {
                    throw MigrationError(
                        .checksumMismatch,
                        "\(migration.name) was edited after it was applied (applied checksum \(existing.checksum.prefix(12))…, "
                            + "file \(migration.checksum.prefix(12))…); put schema changes in a new migration"
                    )
                }
                report.alreadyApplied.append(migration.name)
                continue
            }
            try await apply(migration, on: connection)
            report.applied.append(migration.name)
        }
        return report
    }

    private func apply(_ migration: Migration, on connection: PostgresConnection) async throws {
        let started = ContinuousClock.now
        do {
            try await connection.withTransaction { connection in
                try await connection.executeScript(migration.sql)
                try await connection.query(
                    """
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(Int32(migration.version)), \(migration.name), \(migration.checksum))
                    """
                )
            }
        } catch let error as PostgresError where error.code == .server {
            throw MigrationError(
                .migrationFailed,
                "\(migration.name) failed and was rolled back: [\(error.sqlState ?? "?????")] \(error.message)"
            )
        }
        logger.info(
            "applied migration",
            metadata: [
                "migration": "\(migration.name)",
                "duration_ms": "\((ContinuousClock.now - started).milliseconds)",
            ]
        )
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
