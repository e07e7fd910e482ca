public import Foundation

/// Connection settings for integration tests, read from the environment that `scripts/test` (or
/// `eval "$(scripts/dev-stack env)"`) sets up.
///
/// When a variable is missing, integration tests are skipped — unless `MAILROOM_TEST_REQUIRE_SERVICES=1`
/// (as `scripts/test` and CI set it), in which case they fail, so that CI can never pass by skipping.
public enum TestEnvironment {
    private static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The admin database URL (a role that may create databases).
    public static var databaseURL: String? { environment["MAILROOM_DATABASE_URL"].nonEmpty }

    /// The Kafka bootstrap servers.
    public static var brokers: String? { environment["MAILROOM_BROKERS"].nonEmpty }

    /// `scripts/dev-stack`, for tests that stop and start PostgreSQL.
    public static var devStack: String? { environment["MAILROOM_DEV_STACK"].nonEmpty }

    /// Whether this run may stop and start the shared PostgreSQL (`MAILROOM_TEST_FAULTS=1`). `scripts/test` runs
    /// those tests in a pass of their own, after every other test, because they disturb every connection.
    public static var faultInjection: Bool { environment["MAILROOM_TEST_FAULTS"] == "1" }

    /// Runs `scripts/dev-stack <command>` (e.g. `pg-stop`, `pg-start`) for this test run's stack, or, with
    /// `environment` (e.g. `MAILROOM_STACK`), for another.
    public static func devStack(_ command: String..., environment overrides: [String: String] = [:]) throws {
        guard let script = devStack else {
            throw TestSupportError("MAILROOM_DEV_STACK is not set: run through scripts/test")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + command
        if !overrides.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(overrides) { _, new in new }
        }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSupportError(
                "dev-stack \(command.joined(separator: " ")) exited with \(process.terminationStatus)"
            )
        }
    }

    /// Whether missing services are a failure rather than a reason to skip.
    public static var servicesRequired: Bool { environment["MAILROOM_TEST_REQUIRE_SERVICES"] == "1" }

    /// Whether tests that need PostgreSQL should run (they then fail if it is unreachable).
    public static var hasDatabase: Bool { databaseURL != nil || servicesRequired }

    /// Whether tests that need the broker should run.
    public static var hasBroker: Bool { brokers != nil || servicesRequired }

    /// The database URL, or an error that says how to get one.
    public static func requireDatabaseURL() throws -> String {
        guard let databaseURL else {
            throw TestSupportError("MAILROOM_DATABASE_URL is not set: run the tests through scripts/test")
        }
        return databaseURL
    }

    /// The broker list, or an error that says how to get one.
    public static func requireBrokers() throws -> String {
        guard let brokers else {
            throw TestSupportError("MAILROOM_BROKERS is not set: run the tests through scripts/test")
        }
        return brokers
    }

    /// The repository's root folder (where Package.swift is), found from this source file.
    public static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    /// The folder of the built products (`.build/debug`), found from the running test bundle.
    public static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }
}

/// A test set-up failure.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Optional where Wrapped == String {
    fileprivate var nonEmpty: String? {
        guard let self, !self.isEmpty else { return nil }
        return self
    }
}
