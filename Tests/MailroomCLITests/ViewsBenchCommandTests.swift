import Foundation
import MailroomTestSupport
import Testing

/// `mailroom-bench views` at a small size, so that the benchmark behind docs/BENCHMARKS.md ("Views") keeps
/// working; it asserts what the fill produced, never a time.
@Suite("mailroom-bench views, small", .enabled(if: TestEnvironment.hasDatabase))
struct ViewsBenchCommandTests {
    @Test func fillsAScratchDatabaseAndTimesEveryView() throws {
        let name = "mailroom_bench_test_\(UInt32.random(in: 0...UInt32.max))"
        let result = try CLI.run(
            [
                "views", "--messages", "20000", "--mailboxes", "500", "--days", "1", "--chunk", "7000",
                "--runs", "1", "--bench-database", name, "--json",
            ],
            environment: ["MAILROOM_DATABASE_URL": try TestEnvironment.requireDatabaseURL()],
            executable: CLI.benchExecutable
        )
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let timings = object?["query_ms"] as? [String: [String: Any]] ?? [:]
        for view in [
            "stored_per_minute_1h", "latency_per_minute_1h", "rejections_per_minute_24h", "mailbox_counts",
            "top_unread_mailboxes", "unread_distribution", "worker_progress",
        ] {
            #expect(timings[view]?["median"] is Double, "\(view)")
            #expect((timings[view]?["rows"] as? Int ?? 0) > 0, "\(view)")
        }
        // 20,000 messages over one day: about 14 a minute, so the last hour has 60 or 61 minutes of mail.
        #expect((55...61).contains(timings["stored_per_minute_1h"]?["rows"] as? Int ?? 0))
        let sizes = object?["sizes"] as? [String: [String: Any]] ?? [:]
        #expect(sizes["messages"]?["rows"] as? Int == 20_000)
        #expect(sizes["rejected_envelopes"]?["rows"] as? Int == 200)
    }
}
