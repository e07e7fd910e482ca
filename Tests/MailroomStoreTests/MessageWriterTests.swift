import Foundation
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import Synchronization
import Testing

@Suite("Worker write path against the real PostgreSQL", .enabled(if: TestEnvironment.hasDatabase))
struct MessageWriterTests {
    static func migrated<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await TestDatabase.withConnection { connection in
            let migrations = try Migration.load(from: TestEnvironment.packageRoot.appendingPathComponent("Migrations"))
            _ = try await Migrator().migrate(migrations, on: connection)
            return try await body(connection)
        }
    }

    static func key(_ seed: UInt8) -> [UInt8] { [UInt8](repeating: seed, count: 32) }

    static func message(from sender: UInt8, to recipient: UInt8, offset: Int64, signatureSeed: UInt8 = 1) -> NewMessage
    {
        NewMessage(
            id: UUID(),
            sender: key(sender),
            recipient: key(recipient),
            createdAt: Date(),
            inboxBody: [UInt8](repeating: 0xAA, count: 100),
            sentboxBodyHash: [UInt8](repeating: 1, count: 32),
            sentboxBody: [UInt8](repeating: 0xBB, count: 100),
            inboxBodyHash: [UInt8](repeating: 2, count: 32),
            signature: [UInt8](repeating: signatureSeed, count: 64),
            source: RecordSource(topic: "envelopes", partition: 0, offset: offset)
        )
    }

    static func count(_ table: String, _ connection: PostgresConnection) async throws -> Int64 {
        let sql: PostgresQuery =
            table == "inbox"
            ? "SELECT count(*) FROM inbox_messages"
            : table == "sentbox" ? "SELECT count(*) FROM sentbox_messages" : "SELECT count(*) FROM rejected_envelopes"
        return try await connection.query(sql).single().decode(Int64.self, column: 0)
    }

    @Test func writesBothRowsOnceAndRedeliveryChangesNothing() async throws {
        try await Self.migrated { connection in
            let messages: [NewMessage] = (0..<50).map { (index: Int) -> NewMessage in
                Self.message(from: UInt8(index % 3), to: UInt8(10 + index % 5), offset: Int64(index))
            }
            let writer = MessageWriter()
            let first = try await writer.write(messages, rejections: [], worker: "w1", on: connection)
            #expect(first.stored == 50)
            #expect(first.redelivered == 0)
            #expect(try await Self.count("inbox", connection) == 50)
            #expect(try await Self.count("sentbox", connection) == 50)

            // The recipient reads one; the same envelopes arrive again.
            let readID = messages[0].id
            try await connection.query(
                "UPDATE inbox_messages SET read_at = now() WHERE owner = \(messages[0].recipient) AND id = \(readID)"
            )
            let again = try await writer.write(messages, rejections: [], worker: "w2", on: connection)
            #expect(again.stored == 0)
            #expect(again.redelivered == 50)
            #expect(again.conflicts.isEmpty)
            #expect(try await Self.count("inbox", connection) == 50)
            #expect(try await Self.count("sentbox", connection) == 50)
            let stillRead = try await connection.query(
                "SELECT read_at IS NOT NULL FROM inbox_messages WHERE owner = \(messages[0].recipient) AND id = \(readID)"
            ).single()
            #expect(try stillRead.decode(Bool.self, column: 0))

            // Each row keeps what its reader needs to verify it alone.
            let row = try await connection.query(
                "SELECT body, sentbox_body_hash, signature, sender FROM inbox_messages WHERE owner = \(messages[1].recipient) AND id = \(messages[1].id)"
            ).single()
            let (body, hash, signature, sender) = try row.decode([UInt8].self, [UInt8].self, [UInt8].self, [UInt8].self)
            #expect(body == messages[1].inboxBody)
            #expect(hash == messages[1].sentboxBodyHash)
            #expect(signature == messages[1].signature)
            #expect(sender == messages[1].sender)
        }
    }

    @Test func aBatchMixingNewAndRedeliveredMailStoresTheNewOnesAndCountsThemOnce() async throws {
        try await Self.migrated { connection in
            try await connection.query(
                "INSERT INTO mailboxes (owner) SELECT * FROM unnest(\(PostgresArray([Self.key(1), Self.key(2)])))"
            )
            let old = (0..<10).map { Self.message(from: 1, to: 2, offset: Int64($0)) }
            let new = (10..<15).map { Self.message(from: 1, to: 2, offset: Int64($0)) }
            let writer = MessageWriter()
            #expect(try await writer.write(old, rejections: [], worker: "w", on: connection).stored == 10)
            // The fast path's plain INSERT meets the taken keys, rolls back, and the careful path writes the rest.
            let mixed = try await writer.write(old + new, rejections: [], worker: "w", on: connection)
            #expect(mixed.stored == 5)
            #expect(mixed.redelivered == 10)
            #expect(try await Self.count("inbox", connection) == 15)
            // The rollups the batch statement keeps count each message once, whichever path wrote it.
            let usage = try await connection.query(
                "SELECT messages, unread FROM mailbox_usage WHERE owner = \(Self.key(2))"
            ).single()
            #expect(try usage.decode(Int64.self, Int64.self) == (Int64(15), Int64(15)))
            let perMinute = try await connection.query(
                "SELECT sum(messages)::int8 FROM stats_stored_per_minute"
            ).single()
            #expect(try perMinute.decode(Int64.self, column: 0) == 15)
            let latency = try await connection.query(
                "SELECT sum(messages)::int8 FROM stats_latency_per_minute"
            ).single()
            #expect(try latency.decode(Int64.self, column: 0) == 15)
        }
    }

    @Test func eachBoxDeletesItsOwnCopyAndATombstoneStaysAfterTheSecond() async throws {
        try await Self.migrated { connection in
            try await connection.query(
                "INSERT INTO mailboxes (owner) SELECT * FROM unnest(\(PostgresArray([Self.key(1), Self.key(2)])))"
            )
            let messages = (0..<3).map { Self.message(from: 1, to: 2, offset: Int64($0)) }
            _ = try await MessageWriter().write(messages, rejections: [], worker: "w", on: connection)

            // The recipient deletes message 0: the sender still has it, and can still verify it (hash kept).
            let inboxDelete = try await connection.query(
                "DELETE FROM inbox_messages WHERE owner = \(Self.key(2)) AND id = \(messages[0].id) RETURNING id"
            )
            #expect(inboxDelete.count == 1)
            #expect(try await Self.count("inbox", connection) == 2)
            #expect(try await Self.count("sentbox", connection) == 3)
            let kept = try await connection.query(
                "SELECT body, inbox_body_hash FROM sentbox_messages WHERE owner = \(Self.key(1)) AND id = \(messages[0].id)"
            ).single()
            #expect(try kept.decode([UInt8].self, [UInt8].self) == (messages[0].sentboxBody, messages[0].inboxBodyHash))
            // Deleting it again from the inbox finds nothing.
            let again = try await connection.query(
                "DELETE FROM inbox_messages WHERE owner = \(Self.key(2)) AND id = \(messages[0].id) RETURNING id"
            )
            #expect(again.count == 0)

            // The sender deletes it too: both bodies are gone and the row stays as a tombstone (migration 0006).
            // The sender's delete of message 1 leaves its inbox copy.
            try await connection.query(
                "DELETE FROM sentbox_messages WHERE owner = \(Self.key(1)) AND id = ANY(\(PostgresArray([messages[0].id, messages[1].id])))"
            )
            let rows = try await connection.query(
                "SELECT count(*) FROM messages WHERE inbox_body IS NOT NULL OR sentbox_body IS NOT NULL"
            ).single()
            #expect(try rows.decode(Int64.self, column: 0) == 2)
            let tombstone = try await connection.query(
                "SELECT count(*) FROM messages WHERE id = \(messages[0].id) AND inbox_body IS NULL AND sentbox_body IS NULL"
            ).single()
            #expect(try tombstone.decode(Int64.self, column: 0) == 1)
            #expect(try await Self.count("inbox", connection) == 2)
            #expect(try await Self.count("sentbox", connection) == 1)
            // A box's delete through the view of the other owner matches nothing.
            let foreign = try await connection.query(
                "DELETE FROM inbox_messages WHERE owner = \(Self.key(1)) AND id = \(messages[2].id) RETURNING id"
            )
            #expect(foreign.count == 0)
            let usage = try await connection.query(
                "SELECT messages, unread FROM mailbox_usage WHERE owner = \(Self.key(2))"
            ).single()
            #expect(try usage.decode(Int64.self, Int64.self) == (Int64(2), Int64(2)))
        }
    }

    /// A message twice in one batch (a resend landing in the same poll) fails the COPY and takes the careful path:
    /// stored once, and counted once in its recipient's usage (the rollup once joined each input copy).
    @Test func aMessageTwiceInOneBatchIsCountedOnce() async throws {
        try await Self.migrated { connection in
            let message = Self.message(from: 1, to: 2, offset: 0)
            var resent = message
            resent.source.offset = 1
            let outcome = try await MessageWriter().write(
                [message, resent],
                rejections: [],
                worker: "w",
                on: connection
            )
            #expect(outcome.stored == 1 && outcome.redelivered == 1)
            let usage = try await connection.query(
                "SELECT messages, unread, bytes FROM mailbox_usage WHERE owner = \(Self.key(2))"
            ).single()
            let (messages, unread, bytes) = try usage.decode(Int64.self, Int64.self, Int64.self)
            #expect(messages == 1 && unread == 1 && bytes == Int64(message.inboxBody.count))
        }
    }

    @Test func aDifferentMessageReusingAnIdIsRejectedNotWritten() async throws {
        try await Self.migrated { connection in
            let writer = MessageWriter()
            let original = Self.message(from: 1, to: 2, offset: 0)
            _ = try await writer.write([original], rejections: [], worker: "w", on: connection)
            var impostor = Self.message(from: 3, to: 2, offset: 1, signatureSeed: 9)
            impostor.id = original.id
            let innocent = Self.message(from: 3, to: 4, offset: 2)
            let outcome = try await writer.write([impostor, innocent], rejections: [], worker: "w", on: connection)
            #expect(outcome.stored == 1)
            #expect(outcome.conflicts.count == 1)
            #expect(outcome.conflicts.first?.reason == MessageWriter.duplicateMessageIDReason)
            #expect(outcome.conflicts.first?.source.offset == 1)
            #expect(outcome.rejectionsRecorded == 1)
            // The impostor is in neither box; the original is untouched.
            let sender = try await connection.query(
                "SELECT sender FROM inbox_messages WHERE owner = \(original.recipient) AND id = \(original.id)"
            ).single().decode([UInt8].self, column: 0)
            #expect(sender == original.sender)
            #expect(try await Self.count("sentbox", connection) == 2)
            let reason = try await connection.query("SELECT reason FROM rejected_envelopes").single()
            #expect(try reason.decode(String.self, column: 0) == "duplicate_message_id")
        }
    }

    @Test func rejectionsAreRecordedOncePerRecordWithoutBodies() async throws {
        try await Self.migrated { connection in
            let writer = MessageWriter()
            let rejection = Rejection(
                source: RecordSource(topic: "envelopes", partition: 3, offset: 42),
                reason: "bad_signature",
                detail: "signature does not verify",
                messageID: UUID(),
                sender: Self.key(1),
                recipient: Self.key(2),
                envelopeBytes: 321,
                worker: "w1"
            )
            let first = try await writer.write([], rejections: [rejection], worker: "w1", on: connection)
            #expect(first.rejectionsRecorded == 1)
            let again = try await writer.write([], rejections: [rejection], worker: "w1", on: connection)
            #expect(again.rejectionsRecorded == 0)
            let row = try await connection.query(
                "SELECT reason, kafka_partition, kafka_offset, envelope_bytes FROM rejected_envelopes"
            ).single()
            let (reason, partition, offset, size) = try row.decode(String.self, Int32.self, Int64.self, Int32.self)
            #expect(reason == "bad_signature")
            #expect(partition == 3)
            #expect(offset == 42)
            #expect(size == 321)
            // The table has no column that could hold a body.
            let columns = try await connection.query(
                "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'rejected_envelopes'"
            )
            let names = try columns.map { try $0.decode(String.self, column: 0) }
            #expect(!names.contains { $0.contains("body") || $0.contains("ciphertext") })
        }
    }

    @Test func oneBatchNotifiesEveryOwnerAndRecordsProgressInItsTransaction() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                let migrations = try Migration.load(
                    from: TestEnvironment.packageRoot.appendingPathComponent("Migrations")
                )
                _ = try await Migrator().migrate(migrations, on: connection)
            }
            let received = Mutex<[String]>([])
            let listener = PostgresListener(
                .init(connection: .init(url: database.url), channels: [MailboxNotification.channel])
            ) { event in
                if case .notification(let notification) = event {
                    received.withLock { $0.append(notification.payload) }
                }
            }
            listener.start()
            defer { Task { await listener.stop() } }
            // 600 recipients: more than one payload's worth of owners (~460), so the closing statement sends several.
            let recipients = (0..<600).map { index -> [UInt8] in
                var key = [UInt8](repeating: 0x5A, count: 32)
                key[0] = UInt8(index >> 8)
                key[1] = UInt8(index & 0xFF)
                return key
            }
            let messages = recipients.enumerated().map { index, recipient in
                var message = Self.message(from: 7, to: 0, offset: Int64(index))
                message.recipient = recipient
                return message
            }
            let progress = [
                PartitionProgress(
                    consumerGroup: "g",
                    topic: "envelopes",
                    partition: 0,
                    nextOffset: 600,
                    highWatermark: 640
                )
            ]
            var expectedTokens: [UInt64] = []
            var senderToken: Int64 = 0
            try await database.withConnection { connection in
                // The listener subscribes on its own thread; wait until it is in pg_stat_activity's LISTEN state.
                let deadline = ContinuousClock.now + .seconds(30)
                while try await connection.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                ).single().decode(Int64.self, column: 0) == 0 {
                    try #require(ContinuousClock.now < deadline, "the listener never subscribed")
                    try await Task.sleep(for: .milliseconds(20))
                }
                let outcome = try await MessageWriter().write(
                    messages,
                    rejections: [],
                    worker: "w1",
                    progress: progress,
                    on: connection
                )
                #expect(outcome.stored == 600)
                let row = try await connection.query(
                    "SELECT next_offset, high_watermark, worker FROM worker_progress WHERE consumer_group = 'g'"
                ).single()
                let (next, high, worker) = try row.decode(Int64.self, Int64.self, String.self)
                #expect(next == 600 && high == 640 && worker == "w1")
                expectedTokens = try await connection.query(
                    "SELECT token FROM mailroom_owner_tokens(\(PostgresArray(recipients)))"
                ).map { UInt64(bitPattern: try $0.decode(Int64.self, column: 0)) }
                senderToken = try await connection.query(
                    "SELECT token FROM mailroom_owner_tokens(ARRAY[\(Self.key(7))])"
                ).single().decode(Int64.self, column: 0)
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while received.withLock({ $0.count }) < 3, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let notifications = received.withLock { $0 }.compactMap(MailboxNotification.init(payload:))
            let inbox = notifications.filter { $0.box == .inbox && $0.event == .created }
            let sentbox = notifications.filter { $0.box == .sentbox && $0.event == .created }
            #expect(inbox.count >= 2)
            #expect(Set(inbox.flatMap(\.ownerTokens)) == Set(expectedTokens))
            #expect(expectedTokens.count == recipients.count)
            #expect(sentbox.flatMap(\.ownerTokens) == [UInt64(bitPattern: senderToken)])
            // A listener learns no key: no payload holds any owner's key, or its first 8 bytes, in hex.
            let payloads = received.withLock { $0 }
            for owner in recipients + [Self.key(7)] {
                let hex = owner.prefix(8).map { String(format: "%02x", $0) }.joined()
                #expect(!payloads.contains { $0.contains(hex) })
            }
        }
    }

    @Test func findsExistingMailboxes() async throws {
        try await Self.migrated { connection in
            try await connection.query("INSERT INTO mailboxes (owner) VALUES (\(Self.key(1))), (\(Self.key(2)))")
            let found = try await MessageWriter.existingMailboxes(
                [Self.key(1), Self.key(2), Self.key(3), Self.key(1)],
                on: connection
            )
            #expect(found == [Self.key(1), Self.key(2)])
        }
    }
}

@Suite("Mailbox notifications")
struct MailboxNotificationTests {
    @Test func payloadsRoundTripAndStayUnderTheLimit() {
        // The most tokens one payload carries, the largest values included, fit under PostgreSQL's limit.
        let tokens =
            (0..<MailboxNotification.tokensPerPayload).map { _ in UInt64.random(in: 0...UInt64.max) } + [.max, 0]
        let full = MailboxNotification(box: .sentbox, event: .created, ownerTokens: tokens)
        #expect(full.payload.utf8.count < 8_000)
        #expect(MailboxNotification(payload: full.payload) == full)

        let read = MailboxNotification(box: .inbox, event: .read, ownerTokens: [42])
        #expect(read.payload == "inbox:read:000000000000002a")
        #expect(MailboxNotification(payload: read.payload) == read)
        #expect(MailboxNotification(payload: "inbox:read:000000000000002a:00") == nil)
        #expect(MailboxNotification(payload: "inbox:created:xyz") == nil)
        #expect(MailboxNotification(payload: "nonsense") == nil)
    }
}
