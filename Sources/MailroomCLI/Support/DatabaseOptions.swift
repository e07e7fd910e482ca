import ArgumentParser
import Foundation
import MailroomPostgres

/// `--database-url`, defaulting to `MAILROOM_DATABASE_URL`. Prefer the environment variable: a password in a
/// command-line argument shows in `ps`.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "libpq connection URL (default: $MAILROOM_DATABASE_URL).",
            discussion: "Prefer the environment variable: arguments are visible to other users in ps.",
            valueName: "url"))
    var databaseURL: String?

    func resolvedURL() throws -> String {
        if let databaseURL { return databaseURL }
        if let fromEnvironment = ProcessInfo.processInfo.environment["MAILROOM_DATABASE_URL"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        throw CLIError("no database: set MAILROOM_DATABASE_URL or pass --database-url")
    }

    /// Connects, runs `body`, and closes the connection whether or not `body` throws.
    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await PostgresConnection.withConnection(
            .init(url: try resolvedURL()), logger: CLILogging.logger("postgres"), body)
    }
}
