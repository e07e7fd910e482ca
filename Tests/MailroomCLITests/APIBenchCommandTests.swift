import Foundation
import MailroomTestSupport
import Testing

/// `mailroom-bench api` at a small size, so that the benchmark behind docs/BENCHMARKS.md ("HTTP API") keeps
/// working: signed requests over real HTTP answer full pages. It asserts what was served, never a time.
@Suite("mailroom-bench api, small", .enabled(if: TestEnvironment.hasDatabase && TestEnvironment.hasBroker))
struct APIBenchCommandTests {
    @Test func servesSignedPagesBesideTheLibrary() async throws {
        let database = try await TestDatabase.create(prefix: "mailroom_bench_api_test")
        let result = try CLI.run(
            [
                "api", "--mailboxes", "20", "--messages", "2000", "--page", "50", "--clients", "2",
                "--seconds", "0.4", "--rounds", "2", "--bench-database", database.name, "--json",
                "--migrations", TestEnvironment.packageRoot.appendingPathComponent("Migrations").path,
            ],
            environment: [
                "MAILROOM_DATABASE_URL": try TestEnvironment.requireDatabaseURL(),
                "MAILROOM_BROKERS": try TestEnvironment.requireBrokers(),
            ],
            executable: CLI.benchExecutable
        )
        try await database.drop()
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["messages"] as? Int == 2000)
        #expect(object["mailboxes"] as? Int == 20)
        for field in [
            "api_pages_per_s", "api_p50_ms", "api_p99_ms", "library_pages_per_s", "ratio", "http_floor_requests_per_s",
        ] {
            #expect((object[field] as? Double ?? 0) > 0, "\(field): \(object)")
        }
        #expect((object["api_p50_ms"] as? Double ?? 0) <= (object["api_p99_ms"] as? Double ?? 0))
        // Every page answered held 50 records of two 328-byte bodies (base64url) and more: far over 40 kB.
        #expect((object["api_bytes_per_page"] as? Int ?? 0) > 40_000, "\(object)")
    }
}
