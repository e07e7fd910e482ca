import Foundation
import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

/// Nobody can flood a mailbox: a flood from one sender to one recipient is limited while another sender's
/// mail to the same recipient still arrives; a blocked sender's mail is refused; a block holds across a worker
/// restart, and a redelivery of mail stored before is never refused by a limit.
@Suite("Abuse controls in the worker", .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase))
struct AbuseControlTests {
    @Test func aFloodIsLimitedAndABlockedSenderRefusedWhileOthersStillArrive() async throws {
        try await PipelineHarness.with(partitions: 2) { try await run($0) }
    }

    /// One sender may hold only its share of a recipient's quota: past it `sender_share_full`, while another
    /// sender's mail still arrives; a deleted message frees its place; the cap holds across a worker restart
    /// (the counts are PostgreSQL's).
    @Test func aSenderPastItsShareIsRefusedWhileOthersStillArrive() async throws {
        try await PipelineHarness.with(partitions: 2) { harness in
            let (flooder, friend, recipient) = (Identity.generate(), Identity.generate(), Identity.generate())
            try await harness.setUpMailboxes([flooder, friend, recipient])
            let flood = try await send(30, from: flooder, to: recipient, harness)
            _ = try await send(5, from: friend, to: recipient, harness)
            let limits: (inout WorkerConfiguration) -> Void = {
                $0.pairRateLimit = nil
                $0.mailboxQuota = 40
                $0.senderSharePercent = 25  // 10 messages of the 40
            }
            let first = harness.startWorker(name: "share-first", limits)
            #expect(try await harness.eventually { first.worker.statistics.snapshot.accountedFor >= 35 })
            try await first.stop()
            #expect(try await inbox(of: recipient, from: flooder, harness) == 10)
            #expect(try await inbox(of: recipient, from: friend, harness) == 5)
            #expect(try await rejections(MessageWriter.senderShareFullReason, from: flooder, harness) == 20)
            #expect(first.worker.statistics.snapshot.rejected == [MessageWriter.senderShareFullReason: 20])
            // The first ten in Kafka order are the ones kept.
            let kept = try await harness.database.withConnection { connection in
                try await connection.query(
                    "SELECT id FROM inbox_messages WHERE owner = \(recipient.publicKey.bytes) AND sender = \(flooder.publicKey.bytes)"
                ).map { try $0.decode(MessageID.self, column: 0) }
            }
            #expect(Set(kept) == Set(flood.prefix(10)))

            // The recipient deletes three: after a restart, three more fit and the rest is refused again.
            let deleted = try await harness.database.withConnection { connection in
                try await connection.query(
                    "DELETE FROM inbox_messages WHERE owner = \(recipient.publicKey.bytes) AND id = ANY(\(PostgresArray(Array(kept.prefix(3)))))"
                ).affectedRows
            }
            #expect(deleted == 3)
            _ = try await send(5, from: flooder, to: recipient, harness)
            let second = harness.startWorker(name: "share-second", limits)
            #expect(try await harness.eventually { second.worker.statistics.snapshot.accountedFor >= 5 })
            try await second.stop()
            #expect(second.worker.statistics.snapshot.stored == 3)
            #expect(try await inbox(of: recipient, from: flooder, harness) == 10)
            #expect(try await rejections(MessageWriter.senderShareFullReason, from: flooder, harness) == 22)
        }
    }

    private func send(
        _ count: Int,
        from sender: Identity,
        to recipient: Identity,
        _ harness: PipelineHarness
    )
        async throws -> [MessageID]
    {
        let kafka = try KafkaProducer(.init(kafka: harness.kafka))
        var ids: [MessageID] = []
        for n in 0..<count {
            let envelope = try Envelope.seal(from: sender, to: recipient.publicKey, body: Array("m\(n)".utf8))
            _ = try await kafka.send(
                topic: harness.topics.envelopes,
                key: recipient.publicKey.bytes,
                value: envelope.serialized()
            )
            ids.append(envelope.id)
        }
        await kafka.close()
        return ids
    }

    private func inbox(of owner: Identity, from sender: Identity, _ harness: PipelineHarness) async throws -> Int {
        try await harness.count(
            "SELECT count(*) FROM inbox_messages WHERE owner = \(owner.publicKey.bytes) AND sender = \(sender.publicKey.bytes)"
        )
    }

    private func rejections(_ reason: String, from sender: Identity, _ harness: PipelineHarness) async throws -> Int {
        try await harness.count(
            "SELECT count(*) FROM rejected_envelopes WHERE reason = \(reason) AND sender = \(sender.publicKey.bytes)"
        )
    }

    private func run(_ harness: PipelineHarness) async throws {
        let (flooder, friend, blocked, recipient) = (
            Identity.generate(), Identity.generate(), Identity.generate(), Identity.generate()
        )
        try await harness.setUpMailboxes([flooder, friend, blocked, recipient])
        let added = try await harness.database.withConnection { connection in
            try await BlockQueries.block(
                owner: recipient.publicKey.bytes,
                sender: blocked.publicKey.bytes,
                on: connection
            )
        }
        #expect(added)

        _ = try await send(60, from: flooder, to: recipient, harness)
        _ = try await send(5, from: friend, to: recipient, harness)
        _ = try await send(3, from: blocked, to: recipient, harness)
        let limits: (inout WorkerConfiguration) -> Void = {
            $0.pairRateLimit = RateLimit(burst: 20, perSecond: 0.001)  // no refill to speak of during the test
        }
        let first = harness.startWorker(name: "abuse-first", limits)
        #expect(try await harness.eventually { first.worker.statistics.snapshot.accountedFor >= 68 })
        try await first.stop()
        #expect(try await inbox(of: recipient, from: flooder, harness) == 20)
        #expect(try await inbox(of: recipient, from: friend, harness) == 5)
        #expect(try await inbox(of: recipient, from: blocked, harness) == 0)
        #expect(try await rejections(RejectionReason.rateLimited, from: flooder, harness) == 40)
        #expect(try await rejections(RejectionReason.blockedSender, from: blocked, harness) == 3)
        #expect(
            first.worker.statistics.snapshot.rejected == [
                RejectionReason.rateLimited: 40, RejectionReason.blockedSender: 3,
            ]
        )

        // After a restart the block still holds (it is in PostgreSQL)...
        _ = try await send(2, from: blocked, to: recipient, harness)
        let second = harness.startWorker(name: "abuse-second", limits)
        #expect(try await harness.eventually { second.worker.statistics.snapshot.accountedFor >= 2 })
        try await second.stop()
        #expect(try await rejections(RejectionReason.blockedSender, from: blocked, harness) == 5)

        // ...and the whole topic read again by a new group, with a tighter limit, refuses nothing it had stored:
        // the flooder's 20 and the friend's 5 are redeliveries, whatever the buckets say.
        let again = harness.startWorker(name: "abuse-again") {
            $0.groupID = harness.group + "-again"
            $0.pairRateLimit = RateLimit(burst: 5, perSecond: 0.001)
        }
        #expect(try await harness.eventually { again.worker.statistics.snapshot.accountedFor >= 70 })
        try await again.stop()
        let snapshot = again.worker.statistics.snapshot
        #expect(snapshot.stored == 0)
        #expect(snapshot.redelivered == 25)
        #expect(snapshot.rejected == [RejectionReason.rateLimited: 40, RejectionReason.blockedSender: 5])
        #expect(try await harness.inboxCount() == 25)
        // Rejections are recorded once per Kafka record, however often it is read.
        #expect(try await harness.rejectedCount() == 45)
    }
}
