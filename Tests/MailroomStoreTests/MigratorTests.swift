import Foundation
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import Testing

@Suite("Migrations against the real PostgreSQL", .enabled(if: TestEnvironment.hasDatabase))
struct MigratorTests {
    static var migrationsFolder: URL { TestEnvironment.packageRoot.appendingPathComponent("Migrations") }

    @Test func loadsTheRepositoryMigrationsInOrder() throws {
        let migrations = try Migration.load(from: Self.migrationsFolder)
        #expect(!migrations.isEmpty)
        #expect(migrations.first?.name == "0001_mailboxes.sql")
        #expect(migrations.map(\.version) == migrations.map(\.version).sorted())
        #expect(migrations.allSatisfy { $0.checksum.count == 64 })
    }

    @Test func appliesThenIsIdempotent() async throws {
        let migrations = try Migration.load(from: Self.migrationsFolder)
        try await TestDatabase.withConnection { connection in
            let first = try await Migrator().migrate(migrations, on: connection)
            #expect(first.applied == migrations.map(\.name))
            #expect(first.alreadyApplied.isEmpty)

            let tables = try await connection.query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
            )
            let names = try tables.map { try $0.decode(String.self, column: 0) }
            for table in [
                "messages", "inbox_messages", "mailboxes", "rejected_envelopes", "schema_migrations",
                "sentbox_messages",
            ] {
                #expect(names.contains(table), "missing table \(table)")
            }

            let second = try await Migrator().migrate(migrations, on: connection)
            #expect(second.applied.isEmpty)
            #expect(second.alreadyApplied == migrations.map(\.name))
            let recorded = try await connection.query("SELECT count(*) FROM schema_migrations").single()
            #expect(try recorded.decode(Int64.self, column: 0) == Int64(migrations.count))
        }
    }

    @Test func refusesAnEditedMigration() async throws {
        let folder = try Self.copyOfMigrations()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await TestDatabase.withConnection { connection in
            _ = try await Migrator().migrate(try Migration.load(from: folder), on: connection)
            let file = folder.appendingPathComponent("0001_mailboxes.sql")
            try (String(contentsOf: file, encoding: .utf8) + "\n-- an innocent-looking edit\n")
                .write(to: file, atomically: true, encoding: .utf8)
            let error = await #expect(throws: MigrationError.self) {
                _ = try await Migrator().migrate(try Migration.load(from: folder), on: connection)
            }
            #expect(error?.code == .checksumMismatch)
            #expect(error.map { "\($0)".contains("0001_mailboxes.sql") } == true)
        }
    }

    @Test func appliesANewMigrationAndRollsBackAFailingOne() async throws {
        let folder = try Self.copyOfMigrations()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await TestDatabase.withConnection { connection in
            _ = try await Migrator().migrate(try Migration.load(from: folder), on: connection)
            try "CREATE TABLE extra (n int);".write(
                to: folder.appendingPathComponent("9000_extra.sql"),
                atomically: true,
                encoding: .utf8
            )
            let report = try await Migrator().migrate(try Migration.load(from: folder), on: connection)
            #expect(report.applied == ["9000_extra.sql"])

            // A failing migration leaves nothing behind: its first statement is rolled back with it.
            try "CREATE TABLE half (n int); SELECT no_such_function();".write(
                to: folder.appendingPathComponent("9001_broken.sql"),
                atomically: true,
                encoding: .utf8
            )
            let error = await #expect(throws: MigrationError.self) {
                _ = try await Migrator().migrate(try Migration.load(from: folder), on: connection)
            }
            #expect(error?.code == .migrationFailed)
            let half = try await connection.query("SELECT to_regclass('half') IS NULL").single()
            #expect(try half.decode(Bool.self, column: 0))
            let recorded = try await connection.query("SELECT count(*) FROM schema_migrations WHERE version = 9001")
            #expect(try recorded.single().decode(Int64.self, column: 0) == 0)
        }
    }

    @Test func refusesBadFileNamesAndUnknownAppliedMigrations() async throws {
        let folder = try Self.copyOfMigrations()
        defer { try? FileManager.default.removeItem(at: folder) }
        try "SELECT 1;".write(to: folder.appendingPathComponent("oops.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.self) { _ = try Migration.load(from: folder) }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("oops.sql"))

        try await TestDatabase.withConnection { connection in
            try "CREATE TABLE later (n int);".write(
                to: folder.appendingPathComponent("9100_later.sql"),
                atomically: true,
                encoding: .utf8
            )
            _ = try await Migrator().migrate(try Migration.load(from: folder), on: connection)
            // Older code (without 9100) must not run against a newer schema.
            let error = await #expect(throws: MigrationError.self) {
                _ = try await Migrator().migrate(try Migration.load(from: Self.migrationsFolder), on: connection)
            }
            #expect(error?.code == .unknownAppliedMigration)
        }
    }

    @Test func inboxPagesAreOneIndexRangeScan() async throws {
        let migrations = try Migration.load(from: Self.migrationsFolder)
        try await TestDatabase.withConnection { connection in
            _ = try await Migrator().migrate(migrations, on: connection)
            try await connection.query("SET enable_seqscan = off")
            let owner = [UInt8](repeating: 7, count: 32)
            let cursor = UUID()
            for (sql, index) in [
                ("inbox", "messages_pkey"), ("sentbox", "messages_sender"),
            ] {
                let plan: PostgresRows
                if sql == "inbox" {
                    plan = try await connection.query(
                        "EXPLAIN SELECT id FROM inbox_messages WHERE owner = \(owner) AND id < \(cursor) ORDER BY id DESC LIMIT 50"
                    )
                } else {
                    plan = try await connection.query(
                        "EXPLAIN SELECT id FROM sentbox_messages WHERE owner = \(owner) AND id > \(cursor) ORDER BY id LIMIT 50"
                    )
                }
                let text = try plan.map { try $0.decode(String.self, column: 0) }.joined(separator: "\n")
                #expect(text.contains(index), "\(sql) page does not use \(index):\n\(text)")
                #expect(!text.contains("Sort"), "\(sql) page sorts instead of reading the index in order:\n\(text)")
            }
            let unread = try await connection.query(
                "EXPLAIN SELECT id FROM inbox_messages WHERE owner = \(owner) AND read_at IS NULL ORDER BY id DESC LIMIT 50"
            )
            let unreadPlan = try unread.map { try $0.decode(String.self, column: 0) }.joined(separator: "\n")
            // Since 0005 there is no unread index: an unread page filters the owner's primary-key range.
            #expect(unreadPlan.contains("messages_pkey"), "\(unreadPlan)")
            #expect(!unreadPlan.contains("Sort"), "\(unreadPlan)")
        }
    }

    static func copyOfMigrations() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: migrationsFolder, to: folder)
        return folder
    }
}
