import Foundation
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import Testing

/// Migration 0002 against the real PostgreSQL: the rollups and dashboard views, quotas, worker progress, expiry.
@Suite("Operations: views, quotas, progress, expiry", .enabled(if: TestEnvironment.hasDatabase))
struct OperationsTests {
    typealias W = MessageWriterTests

    static func addMailboxes(_ seeds: [UInt8], _ connection: PostgresConnection) async throws {
        try await connection.query(
            "INSERT INTO mailboxes (owner) SELECT unnest(\(PostgresArray(seeds.map { W.key($0) })))"
        )
    }

    static func message(from sender: UInt8, to recipient: UInt8, offset: Int64, age: TimeInterval = 0) -> NewMessage {
        var message = W.message(from: sender, to: recipient, offset: offset)
        message.createdAt = Date().addingTimeInterval(-age)
        return message
    }

    static func int(_ query: PostgresQuery, _ connection: PostgresConnection) async throws -> Int64 {
        try await connection.query(query).single().decode(Int64?.self, column: 0) ?? -1
    }

    @Test func viewsFollowWritesReadsAndDeletes() async throws {
        try await W.migrated { connection in
            try await Self.addMailboxes([1, 2, 3, 4], connection)
            let writer = MessageWriter()
            // 10 messages to 2 (3 of them about 2 s old on arrival), 5 to 3, 1 to 4; one rejection.
            var messages: [NewMessage] = []
            for index in 0..<10 {
                messages.append(Self.message(from: 1, to: 2, offset: Int64(index), age: index < 3 ? 2 : 0))
            }
            for index in 10..<15 { messages.append(Self.message(from: 1, to: 3, offset: Int64(index))) }
            messages.append(Self.message(from: 2, to: 4, offset: 15))
            let rejection = Rejection(
                source: RecordSource(topic: "envelopes", partition: 0, offset: 16),
                reason: "bad_signature",
                envelopeBytes: 10,
                worker: "w"
            )
            let outcome = try await writer.write(messages, rejections: [rejection], worker: "w", on: connection)
            #expect(outcome.stored == 16)
            // A redelivery changes no count.
            _ = try await writer.write(messages, rejections: [rejection], worker: "w", on: connection)

            #expect(
                try await Self.int(
                    "SELECT sum(messages)::bigint FROM mailroom_ops.messages_stored_per_minute",
                    connection
                ) == 16
            )
            #expect(
                try await Self.int(
                    "SELECT envelopes FROM mailroom_ops.rejections_per_minute WHERE reason = 'bad_signature'",
                    connection
                )
                    == 1
            )
            let latency = try await connection.query(
                "SELECT messages, p50_ms::float8, p99_ms::float8, max_ms::float8 FROM mailroom_ops.latency_per_minute"
            ).single()
            let (count, p50, p99, maxMs) = try latency.decode(Int64.self, Double.self, Double.self, Double.self)
            #expect(count == 16)
            #expect(p50 < 1_000)  // most were a few milliseconds old
            #expect(p99 >= 2_000 && p99 < 2_000 * 1.1 + 1_000)  // the 2 s ones: bucket edges are 10% apart
            #expect(maxMs >= 2_000)

            let counts = try await connection.query("SELECT mailboxes, active_24h FROM mailroom_ops.mailbox_counts")
                .single()
            let (mailboxes, active) = try counts.decode(Int64.self, Int64.self)
            #expect(mailboxes == 4)
            #expect(active == 4)  // 1 and 2 sent, 2, 3 and 4 received

            let top = try await connection.query("SELECT owner_hex, unread FROM top_unread_mailboxes")
            let unread = try top.map { try $0.decode(String.self, Int64.self) }
            #expect(unread.map(\.1) == [10, 5, 1])
            #expect(unread.first?.0 == String(repeating: "02", count: 32))
            // The dashboards' aggregate: mailboxes by unread count in decades, no key.
            let distribution = try await connection.query(
                "SELECT unread_from, unread_to, mailboxes, messages FROM mailroom_ops.unread_distribution"
            ).map { try $0.decode(Int64.self, Int64.self, Int64.self, Int64.self) }
            #expect(distribution.map(\.0) == [0, 1, 10])
            #expect(distribution.map(\.1) == [0, 9, 99])
            #expect(distribution.map(\.2) == [1, 2, 1])  // mailbox 1 has none; 3 and 4 have 5 and 1; 2 has 10
            #expect(distribution.map(\.3) == [0, 6, 10])

            // Reading 4 and deleting 2 (one read, one unread) of mailbox 2's mail.
            try await connection.query(
                "UPDATE inbox_messages SET read_at = now() WHERE owner = \(W.key(2)) AND id = ANY(\(PostgresArray(messages[0..<4].map(\.id))))"
            )
            try await connection.query(
                "DELETE FROM inbox_messages WHERE owner = \(W.key(2)) AND id = ANY(\(PostgresArray([messages[0].id, messages[9].id])))"
            )
            let usage = try await connection.query(
                "SELECT messages, unread FROM mailbox_usage WHERE owner = \(W.key(2))"
            ).single()
            let (total, left) = try usage.decode(Int64.self, Int64.self)
            #expect(total == 8)
            #expect(left == 5)
            // The counters agree with the rows themselves.
            #expect(
                try await Self.int(
                    "SELECT count(*) FROM inbox_messages WHERE owner = \(W.key(2)) AND read_at IS NULL",
                    connection
                )
                    == 5
            )
        }
    }

    @Test func aSenderRefreshNeverWaitsForAnotherWritersLock() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                let migrations = try Migration.load(
                    from: TestEnvironment.packageRoot.appendingPathComponent("Migrations")
                )
                _ = try await Migrator().migrate(migrations, on: connection)
                try await Self.addMailboxes([1, 2], connection)
                #expect(try await Self.int("SELECT count(*) FROM mailbox_usage", connection) == 2)
                // Another writer holds mailbox 1's counter row (as a worker's inbox upsert would) …
                let other = try await database.connect()
                try await other.query("BEGIN")
                try await other.query("SELECT 1 FROM mailbox_usage WHERE owner = \(W.key(1)) FOR UPDATE")
                // … while 1 sends: the write goes through (statement_timeout would fail it if it waited).
                try await connection.query("SET statement_timeout = '5s'")
                let outcome = try await MessageWriter().write(
                    [W.message(from: 1, to: 2, offset: 0)],
                    rejections: [],
                    worker: "w",
                    on: connection
                )
                #expect(outcome.stored == 1)
                try await other.query("ROLLBACK")
                await other.close()
                #expect(
                    try await Self.int(
                        "SELECT count(*) FROM mailbox_usage WHERE last_active_at IS NOT NULL",
                        connection
                    ) == 1
                )
            }
        }
    }

    @Test func workerProgressGivesLagAndNeverMovesBack() async throws {
        try await W.migrated { connection in
            let writer = MessageWriter()
            func progress(_ partition: Int32, _ next: Int64?, _ high: Int64?) -> PartitionProgress {
                PartitionProgress(
                    consumerGroup: "g",
                    topic: "envelopes",
                    partition: partition,
                    nextOffset: next,
                    highWatermark: high
                )
            }
            _ = try await writer.write(
                [],
                rejections: [],
                worker: "w1",
                progress: [progress(0, 100, 150), progress(1, 7, 7)],
                on: connection
            )
            // A late write from a worker that lost partition 0 in a rebalance; then an idle refresh of the mark.
            _ = try await writer.write(
                [],
                rejections: [],
                worker: "w2",
                progress: [progress(0, 90, 120)],
                on: connection
            )
            _ = try await writer.write(
                [],
                rejections: [],
                worker: "w2",
                progress: [progress(1, nil, 20)],
                on: connection
            )
            let rows = try await connection.query(
                "SELECT kafka_partition, next_offset, high_watermark, lag FROM mailroom_ops.worker_progress ORDER BY 1"
            )
            let decoded = try rows.map { try $0.decode(Int32.self, Int64.self, Int64.self, Int64.self) }
            #expect(decoded.count == 2)
            #expect(decoded[0] == (0, 100, 150, 50))
            #expect(decoded[1] == (1, 7, 20, 13))
        }
    }

    /// The byte quota: bodies' bytes are counted exactly through writes and deletes, and a message that would
    /// pass the quota is refused as mailbox_bytes_full while a redelivery is not; a mailbox's own limit wins.
    @Test func aByteQuotaRefusesMailPastItAndCountsBytesExactly() async throws {
        try await W.migrated { connection in
            try await Self.addMailboxes([1, 2], connection)
            let writer = MessageWriter(mailboxByteQuota: 350)  // bodies are 100 bytes: three fit, the fourth not
            let messages = (0..<5).map { Self.message(from: 1, to: 2, offset: Int64($0)) }
            let first = try await writer.write(messages, rejections: [], worker: "w", on: connection)
            #expect(first.stored == 3)
            #expect(
                first.conflicts.map(\.reason) == [
                    MessageWriter.mailboxBytesFullReason, MessageWriter.mailboxBytesFullReason,
                ]
            )
            #expect(try await Self.int("SELECT bytes FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 300)
            // The whole batch again: the stored three are redeliveries, the others still refused.
            let again = try await writer.write(messages, rejections: [], worker: "w", on: connection)
            #expect(again.stored == 0 && again.redelivered == 3)
            #expect(again.conflicts.count == 2)
            // A delete frees its bytes; the fast path (one new message with room) counts them too.
            try await connection.query(
                "DELETE FROM inbox_messages WHERE owner = \(W.key(2)) AND id = \(messages[0].id)"
            )
            #expect(try await Self.int("SELECT bytes FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 200)
            let freed = try await writer.write([messages[3]], rejections: [], worker: "w", on: connection)
            #expect(freed.stored == 1 && freed.conflicts.isEmpty)
            #expect(try await Self.int("SELECT bytes FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 300)
            // The mailbox's own limit overrides the default.
            try await connection.query("UPDATE mailbox_usage SET max_bytes = 10000 WHERE owner = \(W.key(2))")
            let raised = try await writer.write([messages[4]], rejections: [], worker: "w", on: connection)
            #expect(raised.stored == 1)
            #expect(
                try await Self.int("SELECT bytes FROM mailbox_usage WHERE owner = \(W.key(2))", connection)
                    == Self.int(
                        "SELECT sum(octet_length(body))::bigint FROM inbox_messages WHERE owner = \(W.key(2))",
                        connection
                    )
            )
        }
    }

    /// The sender cap: one sender holds at most its share of an inbox's quota (refused past it as
    /// sender_share_full, in the batch's order), others and the owner's own mail are not held back by it,
    /// redeliveries are never refused, a delete frees a place, and a mailbox's own quota sets the cap.
    @Test func aSenderHoldsAtMostItsShareOfAnInbox() async throws {
        try await W.migrated { connection in
            try await Self.addMailboxes([1, 2, 3], connection)
            let writer = MessageWriter(mailboxQuota: 8, senderSharePercent: 25)  // 2 of 8 per sender
            let fromOne = (0..<4).map { Self.message(from: 1, to: 2, offset: Int64($0)) }
            let fromThree = (4..<6).map { Self.message(from: 3, to: 2, offset: Int64($0)) }
            let ownNotes = (6..<9).map { Self.message(from: 2, to: 2, offset: Int64($0)) }
            let first = try await writer.write(
                fromOne + fromThree + ownNotes,
                rejections: [],
                worker: "w",
                on: connection
            )
            #expect(first.stored == 7)
            #expect(first.conflicts.map(\.reason) == Array(repeating: MessageWriter.senderShareFullReason, count: 2))
            #expect(first.conflicts.map(\.messageID) == fromOne[2...].map(\.id))
            #expect(
                try await Self.int(
                    "SELECT count(*) FROM rejected_envelopes WHERE reason = \(MessageWriter.senderShareFullReason)",
                    connection
                ) == 2
            )
            // The whole batch again: the stored seven are redeliveries, the two still refused.
            let again = try await writer.write(
                fromOne + fromThree + ownNotes,
                rejections: [],
                worker: "w",
                on: connection
            )
            #expect(again.stored == 0 && again.redelivered == 7)
            #expect(again.conflicts.map(\.reason) == Array(repeating: MessageWriter.senderShareFullReason, count: 2))
            // On the fast path too: one more from 1 alone is refused; deleting one of 1's frees its place.
            let more = Self.message(from: 1, to: 2, offset: 9)
            let refused = try await writer.write([more], rejections: [], worker: "w", on: connection)
            #expect(refused.stored == 0 && refused.conflicts.map(\.reason) == [MessageWriter.senderShareFullReason])
            try await connection.query(
                "DELETE FROM inbox_messages WHERE owner = \(W.key(2)) AND id = \(fromOne[0].id)"
            )
            let freed = try await writer.write([more], rejections: [], worker: "w", on: connection)
            #expect(freed.stored == 1 && freed.conflicts.isEmpty)
            // A mailbox's own quota sets its cap: 40 → 10 per sender.
            try await connection.query("UPDATE mailbox_usage SET max_messages = 40 WHERE owner = \(W.key(2))")
            let raised = try await writer.write(
                (10..<14).map { Self.message(from: 1, to: 2, offset: Int64($0)) },
                rejections: [],
                worker: "w",
                on: connection
            )
            #expect(raised.stored == 4 && raised.conflicts.isEmpty)
            #expect(
                try await Self.int(
                    "SELECT count(*) FROM inbox_messages WHERE owner = \(W.key(2)) AND sender = \(W.key(1))",
                    connection
                ) == 6
            )
            // A message twice in one batch (a producer's resend) counts once: the other place still fits.
            let twice = Self.message(from: 1, to: 3, offset: 30)
            let other = Self.message(from: 1, to: 3, offset: 31)
            let doubled = try await writer.write([twice, twice, other], rejections: [], worker: "w", on: connection)
            #expect(doubled.stored == 2 && doubled.redelivered == 1 && doubled.conflicts.isEmpty)
            // Without a cap, nothing is refused for it.
            let uncapped = MessageWriter(mailboxQuota: 8)
            try await connection.query("UPDATE mailbox_usage SET max_messages = NULL WHERE owner = \(W.key(2))")
            let flood = (20..<23).map { Self.message(from: 3, to: 1, offset: Int64($0)) }
            #expect(try await uncapped.write(flood, rejections: [], worker: "w", on: connection).stored == 3)
        }
    }

    @Test func aFullMailboxRefusesNewMailButNotRedeliveries() async throws {
        try await W.migrated { connection in
            try await Self.addMailboxes([1, 2, 3], connection)
            let writer = MessageWriter(mailboxQuota: 3)
            let toTwo = (0..<5).map { Self.message(from: 1, to: 2, offset: Int64($0)) }
            let toThree = (5..<7).map { Self.message(from: 1, to: 3, offset: Int64($0)) }
            let first = try await writer.write(toTwo + toThree, rejections: [], worker: "w", on: connection)
            #expect(first.stored == 5)
            #expect(
                first.conflicts.map(\.reason) == [MessageWriter.mailboxFullReason, MessageWriter.mailboxFullReason]
            )
            #expect(Set(first.conflicts.map(\.messageID)) == Set(toTwo[3...].map(\.id)))
            #expect(first.rejectionsRecorded == 2)
            #expect(
                try await Self.int(
                    "SELECT count(*) FROM rejected_envelopes WHERE reason = \(MessageWriter.mailboxFullReason)",
                    connection
                )
                    == 2
            )
            #expect(
                try await Self.int("SELECT count(*) FROM inbox_messages WHERE owner = \(W.key(2))", connection) == 3
            )
            // The sentbox copy of a refused message is not written either.
            #expect(try await Self.int("SELECT count(*) FROM sentbox_messages", connection) == 5)

            // Redelivering the whole batch: the stored ones are redeliveries, the refused ones still refused.
            let again = try await writer.write(toTwo + toThree, rejections: [], worker: "w", on: connection)
            #expect(again.stored == 0)
            #expect(again.redelivered == 5)
            #expect(again.conflicts.count == 2)

            // Deleting one frees one place; a mailbox's own quota overrides the default.
            try await connection.query("DELETE FROM inbox_messages WHERE owner = \(W.key(2)) AND id = \(toTwo[0].id)")
            let freed = try await writer.write([toTwo[3], toTwo[4]], rejections: [], worker: "w", on: connection)
            #expect(freed.stored == 1)
            try await connection.query("UPDATE mailbox_usage SET max_messages = 10 WHERE owner = \(W.key(2))")
            let raised = try await writer.write([toTwo[4]], rejections: [], worker: "w", on: connection)
            #expect(raised.stored == 1)
            #expect(raised.conflicts.isEmpty)

            // With no default quota, a mailbox's own limit still holds.
            try await connection.query("UPDATE mailbox_usage SET max_messages = 1 WHERE owner = \(W.key(3))")
            let unlimited = try await MessageWriter(mailboxQuota: nil).write(
                [Self.message(from: 1, to: 3, offset: 20), Self.message(from: 1, to: 2, offset: 21)],
                rejections: [],
                worker: "w",
                on: connection
            )
            #expect(unlimited.stored == 1)
            #expect(unlimited.conflicts.map(\.recipient) == [W.key(3)])
        }
    }

    @Test func expiryDeletesOnlyOldMessagesInBoundedBatches() async throws {
        try await W.migrated { connection in
            try await Self.addMailboxes([1, 2], connection)
            let messages = (0..<11).map { Self.message(from: 1, to: 2, offset: Int64($0)) }
            _ = try await MessageWriter().write(messages, rejections: [], worker: "w", on: connection)
            let old = messages[0..<7].map(\.id)
            try await connection.query(
                "UPDATE inbox_messages SET stored_at = now() - interval '40 days' WHERE id = ANY(\(PostgresArray(old)))"
            )
            try await connection.query(
                "UPDATE sentbox_messages SET stored_at = now() - interval '40 days' WHERE id = ANY(\(PostgresArray(old)))"
            )
            try await connection.query(
                "UPDATE sentbox_messages SET stored_at = now() - interval '20 days' WHERE id = \(messages[7].id)"
            )

            var configuration = MessageExpiry.Configuration()
            configuration.timeToLive = .seconds(30 * 86_400)
            configuration.batchSize = 3
            let report = try await MessageExpiry(configuration: configuration).run(on: connection)
            #expect(report.inboxDeleted == 7)
            #expect(report.sentboxDeleted == 7)
            #expect(report.batches == 3)  // 3 + 3 + 1 rows, each holding both copies
            let left = try await connection.query("SELECT id FROM inbox_messages ORDER BY id").map {
                try $0.decode(UUID.self, column: 0)
            }
            #expect(Set(left) == Set(messages[7...].map(\.id)))
            #expect(try await Self.int("SELECT count(*) FROM sentbox_messages", connection) == 4)
            #expect(try await Self.int("SELECT messages FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 4)

            // Nothing left to expire: a second run deletes nothing.
            let second = try await MessageExpiry(configuration: configuration).run(on: connection)
            #expect(second.inboxDeleted == 0 && second.sentboxDeleted == 0 && second.batches == 0)
        }
    }

    /// A message deleted from both boxes leaves a tombstone: its envelope redelivered counts as a redelivery and
    /// stores nothing; a different envelope reusing the id is still a clash. A one-box delete keeps the other copy.
    @Test func aMessageDeletedFromBothBoxesIsNotStoredAgain() async throws {
        try await W.migrated { connection in
            try await Self.addMailboxes([1, 2], connection)
            let writer = MessageWriter()
            let both = Self.message(from: 1, to: 2, offset: 0)
            let inboxOnly = Self.message(from: 1, to: 2, offset: 1)
            _ = try await writer.write([both, inboxOnly], rejections: [], worker: "w", on: connection)
            for message in [both, inboxOnly] {
                try await connection.query(
                    "DELETE FROM inbox_messages WHERE owner = \(W.key(2)) AND id = \(message.id)"
                )
            }
            try await connection.query("DELETE FROM sentbox_messages WHERE owner = \(W.key(1)) AND id = \(both.id)")
            #expect(try await Self.int("SELECT messages FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 0)

            // Redelivered, in a batch of their own and beside a new message (the fast path's COPY meets the key).
            let fresh = Self.message(from: 1, to: 2, offset: 2)
            let again = try await writer.write([both, inboxOnly, fresh], rejections: [], worker: "w", on: connection)
            #expect(again.stored == 1)
            #expect(again.redelivered == 2)
            #expect(again.conflicts.isEmpty)
            #expect(try await W.count("inbox", connection) == 1)
            #expect(try await W.count("sentbox", connection) == 2)  // inboxOnly's sent copy, and fresh's
            #expect(try await Self.int("SELECT messages FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 1)
            #expect(try await Self.int("SELECT unread FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 1)
            // The tombstone holds no body.
            #expect(
                try await Self.int(
                    "SELECT count(*) FROM messages WHERE id = \(both.id) AND inbox_body IS NULL AND sentbox_body IS NULL",
                    connection
                ) == 1
            )

            // Another envelope with the tombstone's id and a different signature is a clash, as before.
            var impostor = Self.message(from: 1, to: 2, offset: 3)
            impostor.id = both.id
            impostor.signature = [UInt8](repeating: 9, count: 64)
            let clash = try await writer.write([impostor], rejections: [], worker: "w", on: connection)
            #expect(clash.stored == 0)
            #expect(clash.conflicts.map(\.reason) == [MessageWriter.duplicateMessageIDReason])
        }
    }

    /// Expiry keeps a tombstone for a message created inside the redelivery window and removes older ones
    /// outright; tombstones past the window are pruned, and then nothing else is touched.
    @Test func expiryKeepsTombstonesForTheRedeliveryWindowOnly() async throws {
        try await W.migrated { connection in
            try await Self.addMailboxes([1, 2], connection)
            let writer = MessageWriter()
            let recent = Self.message(from: 1, to: 2, offset: 0)  // created now
            let old = Self.message(from: 1, to: 2, offset: 1, age: 20 * 86_400)  // created 20 days ago
            let deleted = Self.message(from: 1, to: 2, offset: 2)  // deleted from both boxes
            let kept = Self.message(from: 1, to: 2, offset: 3)
            _ = try await writer.write([recent, old, deleted, kept], rejections: [], worker: "w", on: connection)
            try await connection.query(
                "UPDATE messages SET stored_at = now() - interval '400 days' WHERE id = ANY(\(PostgresArray([recent.id, old.id])))"
            )
            try await connection.query("DELETE FROM inbox_messages WHERE owner = \(W.key(2)) AND id = \(deleted.id)")
            try await connection.query("DELETE FROM sentbox_messages WHERE owner = \(W.key(1)) AND id = \(deleted.id)")

            var configuration = MessageExpiry.Configuration()
            configuration.timeToLive = .seconds(365 * 86_400)
            let report = try await MessageExpiry(configuration: configuration).run(on: connection)
            #expect(report.inboxDeleted == 2 && report.sentboxDeleted == 2)
            #expect(report.tombstoned == 1)
            #expect(report.tombstonesPruned == 0)
            // recent, deleted: tombstones
            #expect(try await Self.int("SELECT count(*) FROM messages", connection) == 3)
            #expect(try await W.count("inbox", connection) == 1)
            #expect(try await Self.int("SELECT messages FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 1)
            // The expired recent message is refused on redelivery; the old one is gone (the worker's age limit
            // refuses its envelope).
            let again = try await writer.write([recent], rejections: [], worker: "w", on: connection)
            #expect(again.stored == 0 && again.redelivered == 1)

            // Nine days on, both tombstones are outside the window and go; the live message stays.
            let later = try await MessageExpiry(configuration: configuration).run(
                now: Date().addingTimeInterval(9 * 86_400),
                on: connection
            )
            #expect(later.tombstonesPruned == 2)
            #expect(later.inboxDeleted == 0 && later.tombstoned == 0)
            let left = try await connection.query("SELECT id FROM messages").map { try $0.decode(UUID.self, column: 0) }
            #expect(left == [kept.id])
            #expect(try await Self.int("SELECT messages FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 1)
        }
    }
}
