import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomStore

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the SQL migrations that the database does not have yet.",
        discussion: """
            Applies Migrations/NNNN_*.sql in order, each in its own transaction, and records each in \
            schema_migrations with its SHA-256. Running it again changes nothing. A migration that was edited \
            after it was applied is refused: put schema changes in a new file.

            Exit status: 0 when the database is up to date, 1 on any failure.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(
        help: ArgumentHelp(
            "Folder holding the NNNN_name.sql files (default: $MAILROOM_MIGRATIONS, else ./Migrations).",
            valueName: "dir"
        )
    )
    var migrations: String?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let folder =
                migrations ?? ProcessInfo.processInfo.environment["MAILROOM_MIGRATIONS"] ?? "Migrations"
            let loaded = try Migration.load(from: URL(fileURLWithPath: folder))
            let report = try await database.withConnection { connection in
                try await Migrator(logger: CLILogging.logger("migrate")).migrate(loaded, on: connection)
            }
            if json {
                let object: [String: Any] = ["applied": report.applied, "already_applied": report.alreadyApplied]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                CLIOutput.line(String(decoding: data, as: UTF8.self))
                return
            }
            for name in report.applied { CLIOutput.line("applied  \(name)") }
            let total = report.applied.count + report.alreadyApplied.count
            if report.applied.isEmpty {
                CLIOutput.line("database is up to date (\(total) migration\(total == 1 ? "" : "s"))")
            } else {
                CLIOutput.line(
                    "applied \(report.applied.count) migration\(report.applied.count == 1 ? "" : "s"); "
                        + "\(total) in all"
                )
            }
        }
    }
}
