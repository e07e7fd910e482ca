import Foundation
import MailroomPostgres
import MailroomTestSupport
import Testing

/// The `mailroom` executable, run as a user runs it.
@Suite("mailroom migrate, end to end", .enabled(if: TestEnvironment.hasDatabase))
struct MigrateCommandTests {
    @Test func migrateAppliesThenReportsUpToDate() async throws {
        try await TestDatabase.with { database in
            let first = try CLI.run(["migrate"], environment: ["MAILROOM_DATABASE_URL": database.url])
            #expect(first.status == 0, "\(first.stderr)")
            #expect(first.stdout.contains("applied  0001_mailboxes.sql"))

            let second = try CLI.run(["migrate", "--json"], environment: ["MAILROOM_DATABASE_URL": database.url])
            #expect(second.status == 0, "\(second.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any]
            #expect((object?["applied"] as? [String])?.isEmpty == true)
            #expect((object?["already_applied"] as? [String])?.contains("0001_mailboxes.sql") == true)
        }
    }

    @Test func migrateFailsClearlyWithoutADatabase() throws {
        let result = try CLI.run(["migrate"], environment: ["MAILROOM_DATABASE_URL": ""])
        #expect(result.status == 1)
        #expect(result.stderr.contains("MAILROOM_DATABASE_URL"))

        let down = try CLI.run(
            ["migrate", "--database-url", "postgres://nobody:hunter2@127.0.0.1:1/none"],
            environment: [:]
        )
        #expect(down.status == 1)
        #expect(down.stderr.contains("connection_failed"))
        #expect(!down.stderr.contains("hunter2"))
    }

    @Test func helpDescribesMigrate() throws {
        let result = try CLI.run(["migrate", "--help"], environment: [:])
        #expect(result.status == 0)
        #expect(result.stdout.contains("--database-url"))
        #expect(result.stdout.contains("--migrations"))
    }
}
