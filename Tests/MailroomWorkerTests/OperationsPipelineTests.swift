import Foundation
import Logging
import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

/// Quotas and progress through the whole pipeline: producer → Kafka → worker → PostgreSQL and the DLQ.
@Suite("Operations through the pipeline", .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase))
struct OperationsPipelineTests {
    @Test func aFullMailboxDeadLettersAndProgressReachesTheEnd() async throws {
        let harness = try await PipelineHarness.make(partitions: 3)
        let sender = Identity.generate()
        let full = Identity.generate()
        let roomy = Identity.generate()
        try await harness.setUpMailboxes([sender, full, roomy])
        try await harness.database.withConnection { connection in
            _ = try await connection.query(
                "UPDATE mailbox_usage SET max_messages = 100 WHERE owner = \(roomy.publicKey.bytes)"
            )
        }
        let kafka = try KafkaProducer(.init(kafka: harness.kafka))
        for (recipient, count) in [(full, 8), (roomy, 8)] {
            for n in 0..<count {
                let envelope = try Envelope.seal(from: sender, to: recipient.publicKey, body: Array("note \(n)".utf8))
                _ = try await kafka.send(
                    topic: harness.topics.envelopes,
                    key: recipient.publicKey.bytes,
                    value: envelope.serialized()
                )
            }
        }
        await kafka.close()

        // Default quota 5; `roomy` has its own quota of 100.
        var configuration = harness.workerConfiguration
        configuration.mailboxQuota = 5
        configuration.senderSharePercent = nil  // one sender: its share of 5 would bind before the quota
        var logger = Logger(label: "mailroom.test.worker")
        logger.logLevel = .warning
        let worker = Worker(configuration: configuration, logger: logger)
        let task = Task { try await worker.run() }

        #expect(try await harness.eventually { try await harness.rejectedCount() == 3 })
        #expect(try await harness.eventually { try await harness.inboxCount() == 13 })
        #expect(
            try await harness.count("SELECT count(*) FROM inbox_messages WHERE owner = \(full.publicKey.bytes)") == 5
        )
        #expect(
            try await harness.count(
                "SELECT count(*) FROM rejected_envelopes WHERE reason = 'mailbox_full' AND recipient = \(full.publicKey.bytes)"
            )
                == 3
        )
        #expect(
            try await harness.count(
                "SELECT COALESCE(sum(envelopes), 0)::bigint FROM mailroom_ops.rejections_per_minute WHERE reason = 'mailbox_full'"
            )
                == 3
        )
        let letters = try await harness.deadLetters(expecting: 3)
        let reasons = letters.compactMap { $0.header("mailroom.reason").map { String(decoding: $0, as: UTF8.self) } }
        #expect(reasons == ["mailbox_full", "mailbox_full", "mailbox_full"])

        // Progress: every record of the topic is accounted for in PostgreSQL, and the lag read there is 0. (Tansu
        // reports the high-water mark as the last batch's base offset; the worker never records a mark below the
        // offsets it has consumed, so the lag is exact once the backlog is drained on either broker.)
        #expect(
            try await harness.eventually {
                try await harness.count(
                    "SELECT COALESCE(sum(next_offset), 0)::bigint FROM mailroom_ops.worker_progress WHERE consumer_group = \(harness.group)"
                )
                    == 16
            }
        )
        #expect(
            try await harness.count(
                "SELECT COALESCE(max(lag), -1)::bigint FROM mailroom_ops.worker_progress WHERE consumer_group = \(harness.group)"
            )
                == 0
        )
        #expect(
            try await harness.count(
                "SELECT count(*) FROM mailroom_ops.worker_progress WHERE consumer_group = \(harness.group) AND topic = \(harness.topics.envelopes)"
            )
                >= 1
        )
        worker.stop()
        try await task.value
        await harness.drop()
    }
}
