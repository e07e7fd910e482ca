import Foundation
import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomQuery
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Synchronization
import Testing

/// Batch envelopes (format v2) through the real pipeline: records on Kafka, a worker, PostgreSQL, the query
/// library. Every recipient gets exactly one message that opens and verifies from its row and from its record
/// alone; the sender's sentbox holds one entry; the shared payload is stored once and goes with the last copy.
@Suite("Batch envelopes through the pipeline", .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase))
struct BatchPipelineTests {
    static let recipientCount = 5_000

    @Test(arguments: [BatchHeader.Kind.shared, .personalised])
    func everyRecipientGetsOneMessageAndTheSenderOneEntry(kind: BatchHeader.Kind) async throws {
        try await PipelineHarness.with(partitions: 4) { harness in
            let sender = Identity.generate()
            let recipients = (0..<Self.recipientCount).map { _ in Identity.generate() }
            try await harness.setUpMailboxes([sender] + recipients)
            let body = Array(repeating: UInt8(ascii: "x"), count: 1024)
            let batch =
                kind == .shared
                ? try BatchEnvelope.sealShared(from: sender, to: recipients.map(\.publicKey), body: body)
                : try BatchEnvelope.sealPersonalised(
                    from: sender,
                    to: recipients.enumerated().map { ($1.publicKey, Array("hello \($0)".utf8)) },
                    senderBody: body
                )
            // The sender copy in the middle of the recipients' records: the rows stored before it have their Merkle
            // paths kept aside until it comes, the others none (the recipient list rebuilds them).
            let records = batch.recipientEnvelopes()
            let worker = harness.startWorker()
            try await produce(harness, records[..<2_000].map { ($0.kafkaKey, $0.serialized()) })
            #expect(try await harness.eventually { try await harness.inboxCount() == 2_000 })
            // Before the recipient list, each row's path waits in message_batch_paths, and its record rebuilds.
            #expect(try await harness.count("SELECT count(*) FROM message_batch_paths") == 2_000)
            let early = MailroomClient(.init(databaseURL: harness.database.url))
            let firstInbox = try await early.listInbox(owner: recipients[0].publicKey)
            await early.shutdown()
            try #require(firstInbox.count == 1)
            #expect(
                try firstInbox[0].open(with: recipients[0])
                    == (kind == .shared ? body : Array("hello 0".utf8))
            )
            try await produce(harness, [(sender.publicKey.bytes, batch.senderCopy.serialized())])
            #expect(
                try await harness.eventually {
                    try await harness.count("SELECT count(*) FROM sentbox_batches") == 1
                }
            )
            try await produce(harness, records[2_000...].map { ($0.kafkaKey, $0.serialized()) })
            #expect(try await harness.eventually { try await harness.inboxCount() == Self.recipientCount })
            try await worker.stop()
            #expect(try await harness.rejectedCount() == 0)
            #expect(try await harness.storedIDs() == batch.messageIDs.sorted())
            #expect(try await harness.count("SELECT count(*) FROM message_batches") == 1)
            #expect(
                try await harness.count(
                    "SELECT count(*) FROM message_batches WHERE payload IS NOT NULL AND inbox_copies = \(Int32(Self.recipientCount))"
                ) == (kind == .shared ? 1 : 0)
            )
            // The recipient list arrived: no path waits any more.
            #expect(try await harness.count("SELECT count(*) FROM message_batch_paths") == 0)

            let client = MailroomClient(.init(databaseURL: harness.database.url))
            for (index, recipient) in recipients.enumerated() {
                let inbox = try await client.listInbox(owner: recipient.publicKey)
                try #require(inbox.count == 1)
                let message = inbox[0]
                #expect(message.id == batch.messageIDs[index] && message.sender == sender.publicKey)
                #expect(message.isBatchMember)
                let expected = kind == .shared ? body : Array("hello \(index)".utf8)
                #expect(try message.open(with: recipient) == expected)
                // The record alone, as a device gets it.
                guard case .batch(let record, _) = message.record else {
                    Issue.record("a batch recipient's record is not a batch record")
                    continue
                }
                #expect(record.value == records[index].serialized(), "record \(index) is not rebuilt byte for byte")
                let parsed = try BatchMessageRecord(binary: record.binary())
                #expect(try parsed.open(with: recipient) == expected)
                #expect(throws: EnvelopeError.self) {
                    try parsed.open(with: recipients[(index + 1) % recipients.count])
                }
            }
            let sent = try await client.listSentbox(owner: sender.publicKey)
            try #require(sent.count == 1)
            #expect(sent[0].id == batch.header.batchID && sent[0].recipientCount == Self.recipientCount)
            #expect(try sent[0].open(with: sender) == body)

            // Every recipient deletes its copy: the payload goes with the last; the sender's entry stays.
            for index in recipients.indices.dropFirst() {
                try await client.deleteInboxMessage(owner: recipients[index].publicKey, id: batch.messageIDs[index])
            }
            #expect(
                try await harness.count("SELECT count(*) FROM message_batches WHERE payload IS NOT NULL")
                    == (kind == .shared ? 1 : 0)
            )
            try await client.deleteInboxMessage(owner: recipients[0].publicKey, id: batch.messageIDs[0])
            #expect(try await harness.count("SELECT count(*) FROM message_batches WHERE payload IS NOT NULL") == 0)
            #expect(try await harness.count("SELECT count(*) FROM message_batches WHERE recipients IS NOT NULL") == 1)
            #expect(try await client.listSentbox(owner: sender.publicKey).count == 1)
            // A record redelivered after every copy went stores nothing and brings no payload back.
            try await produce(harness, [(records[0].kafkaKey, records[0].serialized())])
            let again = harness.startWorker()
            #expect(try await harness.eventually { again.worker.statistics.snapshot.accountedFor >= 1 })
            try await again.stop()
            #expect(again.worker.statistics.snapshot.redelivered == 1)
            #expect(try await harness.count("SELECT count(*) FROM message_batches WHERE payload IS NOT NULL") == 0)
            #expect(try await harness.inboxCount() == 0)
            try await client.deleteSentboxMessage(owner: sender.publicKey, id: batch.header.batchID)
            #expect(try await client.listSentbox(owner: sender.publicKey).isEmpty)
            #expect(
                try await harness.count(
                    "SELECT count(*) FROM message_batches WHERE recipients IS NULL AND sender_body IS NULL AND payload IS NULL"
                ) == 1
            )
            await client.shutdown()

            // Outside the redelivery window, expiry prunes the rows' tombstones, then the batch row with them.
            let report = try await harness.database.withConnection { connection in
                _ = try await connection.query(
                    "UPDATE messages SET stored_at = stored_at - interval '30 days', created_at = created_at - interval '30 days'"
                )
                _ = try await connection.query(
                    "UPDATE message_batches SET stored_at = stored_at - interval '30 days', created_at = created_at - interval '30 days'"
                )
                return try await MessageExpiry().run(on: connection)
            }
            #expect(report.tombstonesPruned == Self.recipientCount)
            #expect(report.batchesRemoved == 1)
            #expect(try await harness.count("SELECT count(*) FROM message_batches") == 0)
        }
    }

    /// Tampered records are refused with their reasons and kept where an operator sees them; a redelivered batch
    /// changes nothing; a batch reusing another's id is refused.
    @Test func tamperedRecordsAreRefusedAndRedeliveriesChangeNothing() async throws {
        try await PipelineHarness.with(partitions: 2) { harness in
            let sender = Identity.generate()
            let recipients = (0..<8).map { _ in Identity.generate() }
            try await harness.setUpMailboxes([sender] + recipients)
            let batch = try BatchEnvelope.sealShared(
                from: sender,
                to: recipients.map(\.publicKey),
                body: Array("welcome".utf8)
            )
            // Another batch of the same millisecond, so that a leaf moved into it fails on the Merkle path alone.
            let other = try BatchEnvelope.sealShared(
                from: sender,
                to: recipients.map(\.publicKey),
                body: Array("another".utf8),
                batchID: try MessageID(milliseconds: batch.header.createdAtMilliseconds)
            )
            let records = batch.recipientEnvelopes().map { ($0.kafkaKey, $0.serialized()) }
            var tampered: [([UInt8], [UInt8], String)] = []
            // A swapped payload: the last byte of the shared payload flipped.
            var swapped = records[0].1
            swapped[swapped.count - 1] ^= 1
            tampered.append((records[0].0, swapped, "payload_mismatch"))
            // A path from another leaf: record 1 carrying record 2's path.
            let one = batch.recipientEnvelope(at: 1)
            let two = batch.recipientEnvelope(at: 2)
            var wrongPath = one.serialized()
            let pathStart = wrongPath.count - one.payload.count - 4 - one.pathBytes.count
            wrongPath.replaceSubrange(pathStart..<pathStart + one.pathBytes.count, with: two.pathBytes)
            tampered.append((records[1].0, wrongPath, "bad_merkle_path"))
            // A leaf moved to another batch: record 3's leaf and path under the other batch's head and payload.
            let three = batch.recipientEnvelope(at: 3).serialized()
            let otherThree = other.recipientEnvelope(at: 3)
            let otherTail = otherThree.payload.count + 4
            let moved =
                Array(otherThree.serialized()[0..<254]) + three[254..<three.count - otherTail]
                + otherThree.serialized().suffix(otherTail)
            tampered.append((records[3].0, moved, "bad_merkle_path"))
            // A truncated path: one sibling fewer (and its count byte).
            var truncated = batch.recipientEnvelope(at: 4).serialized()
            let four = batch.recipientEnvelope(at: 4)
            let countAt = truncated.count - four.payload.count - 4 - four.pathBytes.count - 1
            truncated[countAt] -= 1
            truncated.removeSubrange(countAt + 1..<countAt + 33)
            tampered.append((records[4].0, truncated, "bad_merkle_path"))
            // A recipient's record keyed by someone else.
            tampered.append((recipients[0].publicKey.bytes, records[5].1, "key_mismatch"))

            try await produce(harness, tampered.map { ($0.0, $0.1) })
            try await produce(harness, records + records + [(sender.publicKey.bytes, batch.senderCopy.serialized())])
            // Another batch of the sender reusing the batch id: refused as a clash.
            let clash = try BatchEnvelope.sealShared(
                from: sender,
                to: [recipients[7].publicKey],
                body: Array("clash".utf8),
                batchID: batch.header.batchID
            )
            let worker = harness.startWorker()
            #expect(try await harness.eventually { try await harness.inboxCount() == recipients.count })
            try await produce(
                harness,
                [(clash.recipientEnvelope(at: 0).kafkaKey, clash.recipientEnvelope(at: 0).serialized())]
            )
            #expect(try await harness.eventually { try await harness.rejectedCount() == tampered.count + 1 })
            try await worker.stop()
            let reasons = try await harness.database.withConnection { connection in
                try await connection.query("SELECT reason FROM rejected_envelopes ORDER BY reason").map {
                    try $0.decode(String.self, column: 0)
                }
            }
            #expect(reasons == (tampered.map(\.2) + ["duplicate_message_id"]).sorted())
            #expect(try await harness.storedIDs() == batch.messageIDs.sorted())
            let snapshot = worker.worker.statistics.snapshot
            #expect(snapshot.stored == recipients.count + 1)
            #expect(snapshot.redelivered == recipients.count)
        }
    }

    /// Produces the records (key, value), in order per key, and waits until the broker acknowledged every one.
    private func produce(_ harness: PipelineHarness, _ records: [([UInt8], [UInt8])]) async throws {
        let producer = try KafkaProducer(.init(kafka: harness.kafka))
        let failures = Mutex(0)
        for (key, value) in records {
            await producer.enqueue(topic: harness.topics.envelopes, key: key, value: value) { result in
                if case .failure = result { failures.withLock { $0 += 1 } }
            }
        }
        await producer.close()
        #expect(failures.withLock { $0 } == 0)
    }
}
