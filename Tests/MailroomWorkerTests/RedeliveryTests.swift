import Foundation
import MailroomCore
import MailroomPostgres
import MailroomProducer
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

/// Deletion and expiry are final: the whole topic consumed again from its earliest offset by a new consumer
/// group (as after an offset reset, or old records re-sent) brings back no deleted or expired message.
@Suite("Redelivery after deletion and expiry", .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase))
struct RedeliveryTests {
    @Test func aTopicConsumedAgainFromTheStartBringsBackNothingDeletedOrExpired() async throws {
        try await PipelineHarness.with(partitions: 3) { try await run($0) }
    }

    private func run(_ harness: PipelineHarness) async throws {
        let sender = Identity.generate()
        let recipients = (0..<6).map { _ in Identity.generate() }
        try await harness.setUpMailboxes([sender] + recipients)
        let producer = try harness.producer()
        let results = await producer.sendBulk(
            from: sender,
            messages: (0..<40).map {
                BulkMessage(
                    recipient: recipients[$0 % recipients.count].publicKey.textileString,
                    body: Array("m\($0)".utf8)
                )
            }
        )
        await producer.close()
        let sent: [(id: MessageID, recipient: [UInt8])] = results.enumerated().compactMap { index, result in
            guard case .sent(let id, _, _) = result else {
                Issue.record("a send failed: \(result)")
                return nil
            }
            return (id, recipients[index % recipients.count].publicKey.bytes)
        }
        #expect(sent.count == 40)

        let first = harness.startWorker(name: "redelivery-first")
        #expect(try await harness.eventually { try await harness.inboxCount() == sent.count })
        try await first.stop()

        // 10 deleted by both parties, 10 by the recipient only, 10 expired, 10 untouched.
        let deletedByBoth = sent[0..<10]
        let deletedFromInbox = sent[10..<20]
        let expired = sent[20..<30]
        let untouched = sent[30...]
        try await harness.database.withConnection { connection in
            for message in deletedByBoth + deletedFromInbox {
                _ = try await connection.query(
                    "DELETE FROM inbox_messages WHERE owner = \(message.recipient) AND id = \(message.id)"
                )
            }
            for message in deletedByBoth {
                _ = try await connection.query(
                    "DELETE FROM sentbox_messages WHERE owner = \(sender.publicKey.bytes) AND id = \(message.id)"
                )
            }
            _ = try await connection.query(
                "UPDATE messages SET stored_at = now() - interval '400 days' WHERE id = ANY(\(PostgresArray(expired.map(\.id))))"
            )
            let report = try await MessageExpiry().run(on: connection)
            #expect(report.inboxDeleted == expired.count && report.tombstoned == expired.count)
        }
        #expect(try await harness.inboxCount() == untouched.count)
        #expect(try await harness.sentboxCount() == untouched.count + deletedFromInbox.count)

        // A new group reads every partition from the earliest offset: all 40 envelopes again.
        let again = harness.startWorker(name: "redelivery-again") { $0.groupID = harness.group + "-again" }
        #expect(try await harness.eventually { again.worker.statistics.snapshot.accountedFor >= sent.count })
        try await again.stop()
        let snapshot = again.worker.statistics.snapshot
        #expect(snapshot.stored == 0)
        #expect(snapshot.redelivered == sent.count)
        #expect(snapshot.rejected.isEmpty, "\(snapshot.rejected)")

        let inbox = try await harness.database.withConnection { connection in
            try await connection.query("SELECT id FROM inbox_messages").map { try $0.decode(MessageID.self, column: 0) }
        }
        #expect(Set(inbox) == Set(untouched.map(\.id)))
        #expect(inbox.count == untouched.count)
        #expect(try await harness.sentboxCount() == untouched.count + deletedFromInbox.count)
        #expect(
            try await harness.count("SELECT coalesce(sum(messages), 0)::bigint FROM mailbox_usage") == untouched.count
        )
        #expect(
            try await harness.count("SELECT coalesce(sum(unread), 0)::bigint FROM mailbox_usage") == untouched.count
        )
        #expect(try await harness.rejectedCount() == 0)
    }
}
