import Foundation
import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomProducer
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

@Suite(
    "Producer → Kafka → worker → PostgreSQL, against the real broker and database",
    .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase)
)
struct PipelineTests {
    @Test func everyEnvelopeOnceInEachBoxInSendOrderAndRedeliveryChangesNothing() async throws {
        let harness = try await PipelineHarness.make()
        let senders = (0..<4).map { _ in Identity.generate() }
        let recipients = (0..<3).map { _ in Identity.generate() }
        try await harness.setUpMailboxes(senders + recipients)

        // Each sender seals and sends in sequence (waiting for each acknowledgement); senders run concurrently.
        let kafka = try KafkaProducer(.init(kafka: harness.kafka))
        let perSender = 30
        let topic = harness.topics.envelopes
        let sent: [[Envelope]] = try await withThrowingTaskGroup(of: (Int, [Envelope]).self) { group in
            for (index, sender) in senders.enumerated() {
                group.addTask {
                    var envelopes: [Envelope] = []
                    for n in 0..<perSender {
                        let recipient = recipients[(index + n) % recipients.count].publicKey
                        let envelope = try Envelope.seal(from: sender, to: recipient, body: Array("message \(n)".utf8))
                        _ = try await kafka.send(topic: topic, key: recipient.bytes, value: envelope.serialized())
                        envelopes.append(envelope)
                    }
                    return (index, envelopes)
                }
            }
            var all = [[Envelope]](repeating: [], count: senders.count)
            for try await (index, envelopes) in group { all[index] = envelopes }
            return all
        }
        let total = senders.count * perSender

        let running = harness.startWorker()
        #expect(try await harness.eventually { running.worker.statistics.snapshot.accountedFor >= total })
        #expect(try await harness.inboxCount() == total)
        #expect(try await harness.sentboxCount() == total)
        #expect(running.worker.statistics.snapshot.stored == total)
        #expect(try await harness.rejectedCount() == 0)

        // Per sender and recipient, the inbox lists messages in the order they were sent.
        try await harness.database.withConnection { connection in
            for (senderIndex, sender) in senders.enumerated() {
                for recipient in recipients {
                    let expected = sent[senderIndex].filter { $0.recipient == recipient.publicKey }.map { $0.id.uuid }
                    let rows = try await connection.query(
                        "SELECT id FROM inbox_messages WHERE owner = \(recipient.publicKey.bytes) AND sender = \(sender.publicKey.bytes) ORDER BY id"
                    )
                    #expect(try rows.map { try $0.decode(UUID.self, column: 0) } == expected)
                }
            }
            // The recipient reads one message before the redelivery.
            let read = try await connection.query(
                "UPDATE inbox_messages SET read_at = '2026-01-01T00:00:00Z' WHERE id = \(sent[0][0].id.uuid)"
            )
            #expect(read.affectedRows == 1)
        }

        // Redelivery: the very same envelopes, again.
        for envelopes in sent {
            for envelope in envelopes {
                _ = try await kafka.send(topic: topic, key: envelope.recipient.bytes, value: envelope.serialized())
            }
        }
        #expect(try await harness.eventually { running.worker.statistics.snapshot.redelivered >= total })
        #expect(try await harness.inboxCount() == total)
        #expect(try await harness.sentboxCount() == total)
        let stillRead = try await harness.count(
            "SELECT count(*) FROM inbox_messages WHERE read_at = '2026-01-01T00:00:00Z' AND id = \(sent[0][0].id.uuid)"
        )
        #expect(stillRead == 1)

        await kafka.close()
        try await running.stop()
        await harness.drop()
    }

    /// A mailbox owner and a message id, as one comparable value.
    static func key(_ owner: [UInt8], _ id: MessageID) -> String {
        owner.map { String(format: "%02x", $0) }.joined() + "/\(id)"
    }

    @Test func bulkInvitesReachEveryMailbox() async throws {
        let harness = try await PipelineHarness.make()
        let sender = Identity.generate()
        let recipients = (0..<400).map { _ in Identity.generate() }
        try await harness.setUpMailboxes([sender] + recipients)
        // Invites as a batch envelope (v2): one shared body, one signature, one sentbox entry.
        let producer = try harness.producer(batches: true)
        var messages = recipients.map {
            BulkMessage(recipient: $0.publicKey.textileString, body: Array("Welcome aboard".utf8))
        }
        messages.append(BulkMessage(recipient: "not-a-key", body: [1]))
        let results = await producer.sendBulk(from: sender, messages: messages)
        await producer.close()
        #expect(results.count == messages.count)
        #expect(results.prefix(recipients.count).allSatisfy { $0.isSent })
        guard case .failed(let error) = results.last else {
            Issue.record("a malformed recipient must fail")
            return
        }
        #expect(error.code == .invalidRecipientKey)

        // Small batches and a write-queue byte limit every batch exceeds: the loop waits for each write before
        // queuing the next batch, and everything still arrives.
        let running = harness.startWorker {
            $0.batchSize = 50
            $0.writeQueueBytes = 1
        }
        #expect(try await harness.eventually { try await harness.inboxCount() == recipients.count })
        // Each invitation in its recipient's inbox, once, under the id it was sent with.
        var produced: [String] = []
        for (recipient, result) in zip(recipients, results) {
            guard case .sent(let id, _, _) = result else { continue }
            produced.append(Self.key(recipient.publicKey.bytes, id))
        }
        let stored = try await harness.database.withConnection { connection in
            try await connection.query("SELECT owner, id FROM inbox_messages").map {
                let (owner, id) = try $0.decode([UInt8].self, MessageID.self)
                return Self.key(owner, id)
            }
        }
        #expect(produced.count == recipients.count)
        #expect(stored.sorted() == produced.sorted())
        #expect(try await harness.sentboxCount() == 0)
        #expect(
            try await harness.eventually { try await harness.count("SELECT count(*) FROM sentbox_batches") == 1 }
        )
        try await running.stop()
        await harness.drop()
    }

    /// A mailbox cache far smaller than a batch's owners starts over while a batch's lookups go in: no message may
    /// be refused for it (the cache once forgot owners it knew mid-batch and refused their mail as
    /// `no_sender_mailbox`), with single envelopes and with batch envelopes.
    @Test(arguments: [false, true])
    func aMailboxCacheSmallerThanABatchRefusesNoMail(batches: Bool) async throws {
        try await PipelineHarness.with(partitions: 2) { harness in
            let senders = (0..<3).map { _ in Identity.generate() }
            // Two rounds: the second's batches hold known senders and new recipients, whose lookup fills the cache.
            let rounds = (0..<2).map { _ in (0..<30).map { _ in Identity.generate() } }
            try await harness.setUpMailboxes(senders + rounds.flatMap { $0 })
            let running = harness.startWorker { $0.mailboxCacheSize = 8 }
            var expected = 0
            for recipients in rounds {
                let producer = try harness.producer(batches: batches)
                for sender in senders {
                    let results = await producer.sendBulk(
                        from: sender,
                        messages: recipients.map {
                            BulkMessage(recipient: $0.publicKey.hexString, body: Array("hi".utf8))
                        }
                    )
                    #expect(results.allSatisfy { $0.isSent })
                }
                await producer.close()
                expected += senders.count * recipients.count
                let target = expected + (batches ? senders.count * (expected / (senders.count * 30)) : 0)
                #expect(
                    try await harness.eventually { running.worker.statistics.snapshot.accountedFor >= target }
                )
            }
            try await running.stop()
            #expect(try await harness.rejectedCount() == 0)
            #expect(try await harness.inboxCount() == expected)
        }
    }

    @Test func everyInvalidKindEndsAsADeadLetterWithItsReasonAndInNoMailbox() async throws {
        let harness = try await PipelineHarness.make(partitions: 2)
        let vectors = try EnvelopeVectorFile.load()
        // The vectors' parties have mailboxes, so only each vector's own fault can reject it.
        var parties = Set<[UInt8]>()
        for valid in vectors.valid {
            parties.insert(try PublicKey(textileString: valid.senderPublicKey).bytes)
            parties.insert(try PublicKey(textileString: valid.recipientPublicKey).bytes)
        }
        try await harness.database.withConnection { connection in
            for owner in parties { _ = try await MailboxQueries.setup(owner: owner, on: connection) }
        }
        let kafka = try KafkaProducer(.init(kafka: harness.kafka))
        var expected: [String] = []
        var sentValues: [[UInt8]] = []
        for vector in vectors.invalid {
            sentValues.append(vector.envelope)
            _ = try await kafka.send(
                topic: harness.topics.envelopes,
                key: vectors.anyRecipientKey,
                value: vector.envelope
            )
            expected.append(vector.workerReason)
        }
        // Worker-level reasons: no mailbox, wrong key, dated in the future, older than the age limit.
        let stranger = Identity.generate()
        let alice = Identity.generate()
        try await harness.setUpMailboxes([alice])
        let toStranger = try Envelope.seal(from: alice, to: stranger.publicKey, body: [1])
        _ = try await kafka.send(
            topic: harness.topics.envelopes,
            key: stranger.publicKey.bytes,
            value: toStranger.serialized()
        )
        sentValues.append(toStranger.serialized())
        expected.append(RejectionReason.noRecipientMailbox)
        let fromStranger = try Envelope.seal(from: stranger, to: alice.publicKey, body: [1])
        _ = try await kafka.send(
            topic: harness.topics.envelopes,
            key: alice.publicKey.bytes,
            value: fromStranger.serialized()
        )
        sentValues.append(fromStranger.serialized())
        expected.append(RejectionReason.noSenderMailbox)
        let wrongKey = try Envelope.seal(from: alice, to: alice.publicKey, body: [1])
        _ = try await kafka.send(
            topic: harness.topics.envelopes,
            key: stranger.publicKey.bytes,
            value: wrongKey.serialized()
        )
        sentValues.append(wrongKey.serialized())
        expected.append(RejectionReason.keyMismatch)
        let future = try Envelope.seal(
            from: alice,
            to: alice.publicKey,
            body: [1],
            createdAt: Date().addingTimeInterval(86_400)
        )
        _ = try await kafka.send(
            topic: harness.topics.envelopes,
            key: alice.publicKey.bytes,
            value: future.serialized()
        )
        sentValues.append(future.serialized())
        expected.append(RejectionReason.createdInFuture)
        let tooOld = try Envelope.seal(
            from: alice,
            to: alice.publicKey,
            body: [1],
            createdAt: Date().addingTimeInterval(-8 * 86_400)
        )
        _ = try await kafka.send(
            topic: harness.topics.envelopes,
            key: alice.publicKey.bytes,
            value: tooOld.serialized()
        )
        sentValues.append(tooOld.serialized())
        expected.append(RejectionReason.envelopeTooOld)
        await kafka.close()

        let running = harness.startWorker(name: "dlq-test-worker")
        #expect(try await harness.eventually { running.worker.statistics.snapshot.accountedFor >= expected.count })
        try await running.stop()
        #expect(try await harness.inboxCount() == 0)
        #expect(try await harness.sentboxCount() == 0)
        #expect(running.worker.statistics.snapshot.rejected.values.reduce(0, +) == expected.count)

        let stored = try await harness.database.withConnection { connection in
            try await connection.query("SELECT reason FROM rejected_envelopes").map {
                try $0.decode(String.self, column: 0)
            }
        }
        #expect(stored.sorted() == expected.sorted())

        let letters = try await harness.deadLetters(expecting: expected.count)
        let reasons = letters.compactMap { $0.header("mailroom.reason").map { String(decoding: $0, as: UTF8.self) } }
        #expect(reasons.sorted() == expected.sorted())
        for letter in letters {
            #expect(
                letter.header("mailroom.original.topic").map { String(decoding: $0, as: UTF8.self) }
                    == harness.topics.envelopes
            )
            #expect(letter.header("mailroom.original.offset") != nil)
            #expect(letter.header("mailroom.original.partition") != nil)
            #expect(letter.header("mailroom.worker").map { String(decoding: $0, as: UTF8.self) } == "dlq-test-worker")
        }
        // Each dead letter carries the original envelope bytes, byte for byte.
        let letterValues = letters.map { $0.value ?? [] }
        #expect(
            letterValues.sorted { $0.lexicographicallyPrecedes($1) }
                == sentValues.sorted { $0.lexicographicallyPrecedes($1) }
        )
        await harness.drop()
    }

    @Test func twoWorkersShareTheGroupAndOneStoppingMidRunLosesAndDoublesNothing() async throws {
        let harness = try await PipelineHarness.make(partitions: 4)
        let senders = (0..<5).map { _ in Identity.generate() }
        let recipients = (0..<40).map { _ in Identity.generate() }
        try await harness.setUpMailboxes(senders + recipients)
        let first = harness.startWorker(name: "first")
        let second = harness.startWorker(name: "second")
        let producer = try harness.producer()
        let total = 1_500
        let messages = (0..<total).map { index in
            BulkMessage(
                recipient: recipients[index % recipients.count].publicKey.textileString,
                body: Array("n\(index)".utf8)
            )
        }
        // Five senders' bulk sends run while the workers consume.
        let share = total / senders.count
        let results = try await withThrowingTaskGroup(of: [BulkResult].self) { group in
            for (index, sender) in senders.enumerated() {
                group.addTask {
                    await producer.sendBulk(
                        from: sender,
                        messages: Array(messages[index * share..<(index + 1) * share])
                    )
                }
            }
            // Stop the first worker once it is busy; the second takes over its partitions.
            #expect(
                try await harness.eventually(timeout: .seconds(60)) {
                    first.worker.statistics.snapshot.consumed > 100
                        || second.worker.statistics.snapshot.accountedFor > 300
                }
            )
            try await first.stop()
            var all: [BulkResult] = []
            for try await results in group { all += results }
            return all
        }
        await producer.close()
        #expect(results.allSatisfy { $0.isSent })
        var sent: [(id: MessageID, partition: Int32, offset: Int64)] = []
        for case .sent(let id, let partition, let offset) in results { sent.append((id, partition, offset)) }
        #expect(sent.count == total)
        #expect(try await harness.eventually(timeout: .seconds(90)) { try await harness.inboxCount() == total })
        // Wait until every partition's recorded progress has reached the last record produced to it: each batch
        // records it in its own transaction and batches are written in offset order, so by then every record,
        // redeliveries included, has been through a write. Stopping the second worker then finishes what it holds.
        var ends: [Int32: Int64] = [:]
        for record in sent { ends[record.partition] = max(ends[record.partition] ?? 0, record.offset + 1) }
        #expect(
            try await harness.eventually(timeout: .seconds(60)) {
                try await harness.database.withConnection { connection in
                    let rows = try await connection.query(
                        """
                        SELECT kafka_partition, next_offset FROM worker_progress
                        WHERE consumer_group = \(harness.group) AND topic = \(harness.topics.envelopes)
                        """
                    )
                    var recorded: [Int32: Int64] = [:]
                    for row in rows {
                        let (partition, next) = try row.decode(Int32.self, Int64?.self)
                        recorded[partition] = next
                    }
                    return recorded == ends
                }
            }
        )
        try await second.stop()
        // Nothing doubled: each produced message once (rows), and counted once as stored by one worker.
        #expect(try await harness.storedIDs() == sent.map(\.id).sorted())
        #expect(try await harness.sentboxCount() == total)
        let firstStats = first.worker.statistics.snapshot
        let secondStats = second.worker.statistics.snapshot
        #expect(firstStats.stored + secondStats.stored == total)
        #expect(try await harness.count("SELECT coalesce(sum(messages), 0)::bigint FROM mailbox_usage") == total)
        #expect(secondStats.stored > 0)
        await harness.drop()
    }
}
