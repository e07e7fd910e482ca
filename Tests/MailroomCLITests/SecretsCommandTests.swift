import Foundation
import MailroomTestSupport
import Testing

/// Secrets come from the environment or files, never only from arguments; docker-compose.yml's development
/// passwords are refused without MAILROOM_DEVELOPMENT=1; error text names files and lines, never a value.
@Suite("Secrets from the environment and files", .enabled(if: TestEnvironment.hasDatabase && TestEnvironment.hasBroker))
struct SecretsCommandTests {
    static func withFolder<T>(_ body: (URL) throws -> T) throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mailroom-secrets-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try body(folder)
    }

    static func write(_ text: String, to url: URL, mode: Int) throws {
        try text.write(to: url, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }

    @Test func developmentPasswordsAreRefusedUnlessTheFlagIsSet() async throws {
        let database = try await TestDatabase.create()
        defer { Task { try? await database.drop() } }
        // The dev stack trusts loopback, so the password is ignored by the server: only the check can refuse it.
        var url = URLComponents(string: database.url)!
        url.user = "mailroom"
        url.password = "worker-dev-only"
        let env = ["MAILROOM_DATABASE_URL": url.string!, "MAILROOM_DEVELOPMENT": ""]
        let refused = try CLI.run(["migrate"], environment: env)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("development password"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("worker-dev-only"))
        let allowed = try CLI.run(["migrate"], environment: env.merging(["MAILROOM_DEVELOPMENT": "1"]) { $1 })
        #expect(allowed.status == 0, "\(allowed.stderr)")
    }

    @Test func theDatabaseURLComesFromAFileOnlyOthersCannotRead() async throws {
        let database = try await TestDatabase.create()
        defer { Task { try? await database.drop() } }
        try Self.withFolder { folder in
            let file = folder.appendingPathComponent("database-url")
            try Self.write(database.url + "\n", to: file, mode: 0o600)
            let env = ["MAILROOM_DATABASE_URL": "", "MAILROOM_DATABASE_URL_FILE": file.path]
            let migrated = try CLI.run(["migrate"], environment: env)
            #expect(migrated.status == 0, "\(migrated.stderr)")
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
            let open = try CLI.run(["migrate"], environment: env)
            #expect(open.status == 1)
            #expect(open.stderr.contains("readable by every user"), "\(open.stderr)")
            #expect(!open.stderr.contains(database.url))
        }
    }

    @Test func kafkaPropertiesComeFromAFileAndErrorsNameTheLineNotTheValue() throws {
        try Self.withFolder { folder in
            let file = folder.appendingPathComponent("kafka.properties")
            let secret = "sasl.password hunter2-no-equals-sign"
            try Self.write("# SASL and TLS settings\n\(secret)\n", to: file, mode: 0o600)
            let env = ["MAILROOM_KAFKA_PROPERTIES_FILE": file.path]
            let malformed = try CLI.run(["topics", "create", "--topic", "t-\(UUID().uuidString)"], environment: env)
            #expect(malformed.status == 1)
            #expect(malformed.stderr.contains("kafka.properties:2 is not key=value"), "\(malformed.stderr)")
            #expect(!malformed.stderr.contains("hunter2"))
            // A property from the file reaches librdkafka: an invalid value is refused by it.
            try Self.write("enable.idempotence=maybe\n", to: file, mode: 0o600)
            let applied = try CLI.run(["topics", "create", "--topic", "t-\(UUID().uuidString)"], environment: env)
            #expect(applied.status == 1)
            #expect(applied.stderr.contains("enable.idempotence"), "\(applied.stderr)")
        }
    }
}
