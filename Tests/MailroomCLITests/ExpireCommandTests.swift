import Foundation
import MailroomPostgres
import MailroomTestSupport
import Testing

/// `mailroom expire` and the worker's quota setting, run as a user runs them.
@Suite("mailroom expire, end to end", .enabled(if: TestEnvironment.hasDatabase))
struct ExpireCommandTests {
    @Test func expireDeletesMessagesPastTheTTLInBatches() async throws {
        try await TestDatabase.with { database in
            let migrate = try CLI.run(["migrate"], environment: ["MAILROOM_DATABASE_URL": database.url])
            #expect(migrate.status == 0, "\(migrate.stderr)")
            try await database.withConnection { connection in
                let alice = [UInt8](repeating: 1, count: 32)
                let bob = [UInt8](repeating: 2, count: 32)
                try await connection.query("INSERT INTO mailboxes (owner) VALUES (\(alice)), (\(bob))")
                // 5 messages 10 days old, 2 from yesterday, in both boxes.
                for (age, count) in [(10, 5), (1, 2)] {
                    try await connection.query(
                        """
                        INSERT INTO messages (recipient, id, sender, created_at, inbox_body, sentbox_body, inbox_body_hash,
                                              sentbox_body_hash, signature, stored_at)
                        SELECT \(bob), gen_random_uuid(), \(alice), at, '\\x00', '\\x00', '\\x00', '\\x00',
                               \([UInt8](repeating: 7, count: 64)), at
                        FROM (SELECT now() - \(Int64(age)) * interval '1 day' AS at FROM generate_series(1, \(Int64(count)))) m
                        """
                    )
                }
            }
            let result = try CLI.run(
                ["expire", "--batch-size", "2", "--json"],
                environment: ["MAILROOM_DATABASE_URL": database.url, "MAILROOM_MESSAGE_TTL_DAYS": "7"]
            )
            #expect(result.status == 0, "\(result.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(object?["inbox_deleted"] as? Int == 5)
            #expect(object?["sentbox_deleted"] as? Int == 5)
            // One row holds both copies: 5 rows in batches of 2.
            #expect(object?["batches"] as? Int == 3)
            let left = try await database.withConnection { connection in
                try await connection.query(
                    "SELECT (SELECT count(*) FROM inbox_messages) + (SELECT count(*) FROM sentbox_messages)"
                )
                .single().decode(Int64.self, column: 0)
            }
            #expect(left == 4)

            let bad = try CLI.run(
                ["expire"],
                environment: ["MAILROOM_DATABASE_URL": database.url, "MAILROOM_MESSAGE_TTL_DAYS": "soon"]
            )
            #expect(bad.status == 1)
            #expect(bad.stderr.contains("MAILROOM_MESSAGE_TTL_DAYS"))
        }
    }

    @Test func workerHelpListsEverySettingIncludingTheQuota() throws {
        let result = try CLI.run(["worker", "--help"], environment: [:])
        #expect(result.status == 0)
        #expect(result.stdout.contains("--mailbox-quota"))
        // Help wraps lines; compare with the whitespace squeezed out.
        let text = result.stdout.split(whereSeparator: \.isWhitespace).joined()
        for name in [
            "MAILROOM_DATABASE_URL", "MAILROOM_BROKERS", "MAILROOM_WORKER_GROUP", "MAILROOM_WORKER_BATCH_SIZE",
            "MAILROOM_WORKER_BATCH_LINGER_MS", "MAILROOM_WORKER_METRICS_PORT", "MAILROOM_WORKER_METRICS_HOST",
            "MAILROOM_MAX_BODY_BYTES", "MAILROOM_MAX_CLOCK_SKEW_S", "MAILROOM_MAILBOX_QUOTA",
            "MAILROOM_WORKER_WRITE_QUEUE", "MAILROOM_WORKER_WRITE_QUEUE_MB", "--write-queue", "--write-queue-mb",
            "MAILROOM_PRECOMPUTED_KEYS", "--precomputed-keys",
        ] {
            #expect(text.contains(name), "\(name)")
        }
    }
}
