public import ArgumentParser
import Foundation
public import MailroomPostgres

/// `--database-url`, defaulting to `MAILROOM_DATABASE_URL`, then to the contents of the file
/// `MAILROOM_DATABASE_URL_FILE` (e.g. a container secret). Prefer either: a password in a command-line argument
/// shows in `ps`. libpq's own variables (`PGPASSWORD`, `PGPASSFILE`, `PGSSLROOTCERT`, …) apply as well. A
/// development password (docker-compose.yml's `…-dev-only`) is refused unless `MAILROOM_DEVELOPMENT=1`.
public struct DatabaseOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "libpq connection URL (default: $MAILROOM_DATABASE_URL).",
            discussion: "Prefer the environment variable: arguments are visible to other users in ps.",
            valueName: "url"
        )
    )
    public var databaseURL: String?

    public func resolvedURL() throws -> String {
        let url = try unchecked()
        try Secrets.refuseDevelopmentPassword(in: url)
        return url
    }

    private func unchecked() throws -> String {
        if let databaseURL { return databaseURL }
        let environment = ProcessInfo.processInfo.environment
        if let fromEnvironment = environment["MAILROOM_DATABASE_URL"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        if let file = environment["MAILROOM_DATABASE_URL_FILE"], !file.isEmpty {
            return try Secrets.read(file, for: "MAILROOM_DATABASE_URL_FILE")
        }
        throw CLIError("no database: set MAILROOM_DATABASE_URL (or MAILROOM_DATABASE_URL_FILE) or pass --database-url")
    }

    /// Connects, runs `body`, and closes the connection whether or not `body` throws.
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await PostgresConnection.withConnection(
            .init(url: try resolvedURL()),
            logger: CLILogging.logger("postgres"),
            body
        )
    }
}
