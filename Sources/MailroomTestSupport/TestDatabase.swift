import Foundation
public import MailroomPostgres

/// A throw-away database for one test: created empty from the admin URL, dropped by ``drop()``.
///
/// Tests run in parallel, so each gets its own database and none sees another's rows.
public struct TestDatabase: Sendable {
    /// The database's name (`mailroom_test_…`).
    public let name: String
    /// A URL that connects to it.
    public let url: String

    /// Creates a new, empty database.
    public static func create(prefix: String = "mailroom_test") async throws -> TestDatabase {
        let adminURL = try TestEnvironment.requireDatabaseURL()
        let name = "\(prefix)_\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
        let admin = try await PostgresConnection.connect(url: adminURL)
        do {
            try await admin.query("CREATE DATABASE \(identifier: name)")
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        return TestDatabase(name: name, url: try Self.url(adminURL, withDatabase: name))
    }

    /// Opens a connection to this database.
    public func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(url: url)
    }

    /// Drops the database, disconnecting anyone still using it.
    public func drop() async throws {
        let admin = try await PostgresConnection.connect(url: try TestEnvironment.requireDatabaseURL())
        do {
            try await admin.query("DROP DATABASE IF EXISTS \(identifier: name) WITH (FORCE)")
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
    }

    /// Runs `body` with a fresh database and drops it afterwards, whether or not `body` throws.
    public static func with<T: Sendable>(_ body: (TestDatabase) async throws -> T) async throws -> T {
        let database = try await create()
        do {
            let value = try await body(database)
            try await database.drop()
            return value
        } catch {
            try? await database.drop()
            throw error
        }
    }

    /// Whether, within `timeout`, some session of this database waits on a lock (a statement blocked by another
    /// session's lock). Polled from sessions of its own: inside a transaction `pg_stat_activity` is a snapshot.
    public func eventuallyWaitsOnALock(timeout: Duration = .seconds(30)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let waiting = try await withConnection { connection in
                try await connection.query(
                    """
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'
                    """
                ).single().decode(Int64.self, column: 0)
            }
            if waiting > 0 { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Runs `body` with a connection to this database, closing it afterwards.
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await PostgresConnection.withConnection(.init(url: url), body)
    }

    /// Runs `body` with a connection to a fresh database, dropped afterwards.
    public static func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await with { database in try await database.withConnection(body) }
    }

    /// The same URL pointing at another database.
    static func url(_ url: String, withDatabase name: String) throws -> String {
        guard var components = URLComponents(string: url), components.scheme?.hasPrefix("postgres") == true else {
            throw TestSupportError("MAILROOM_DATABASE_URL must be a postgres:// URL")
        }
        components.path = "/" + name
        guard let result = components.string else { throw TestSupportError("cannot build a database URL") }
        return result
    }
}
