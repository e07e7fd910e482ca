import Foundation
import MailroomCore
import MailroomKafka
import MailroomTestSupport
import MailroomWorker
import Testing

/// `mailroom dlq replay` ends: a run replays what the dead-letter topic held at its start, a cause that persists
/// is replayed a bounded number of times, and permanent reasons are skipped unless asked for.
@Suite("Dead-letter replay terminates", .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase))
struct DeadLetterReplayTests {
    @Test func aCauseThatPersistsIsReplayedABoundedNumberOfTimes() async throws {
        try await PipelineHarness.with(partitions: 2) { try await run($0) }
    }

    private func run(_ harness: PipelineHarness) async throws {
        let sender = Identity.generate()
        let nobody = Identity.generate()  // never sets up a mailbox: the cause persists
        try await harness.setUpMailboxes([sender])
        let kafka = try KafkaProducer(.init(kafka: harness.kafka))
        let toNobody = try Envelope.seal(from: sender, to: nobody.publicKey, body: [1])
        _ = try await kafka.send(
            topic: harness.topics.envelopes,
            key: nobody.publicKey.bytes,
            value: toNobody.serialized()
        )
        var forged = try Envelope.seal(from: sender, to: sender.publicKey, body: [2]).serialized()
        forged[forged.count - 1] ^= 1  // the signature's last byte
        _ = try await kafka.send(topic: harness.topics.envelopes, key: sender.publicKey.bytes, value: forged)
        await kafka.close()

        let worker = harness.startWorker(name: "replay-worker")
        do {
            try await replays(harness)
        } catch {
            try? await worker.stop()
            throw error
        }
        try await worker.stop()
    }

    /// Waits until the dead-letter topic holds `count` records (read from the start by a new group each time).
    private func deadLettersReach(_ count: Int, _ harness: PipelineHarness) async throws -> Bool {
        let consumer = try KafkaConsumer(
            .init(
                kafka: harness.kafka,
                groupID: "count-\(UInt64.random(in: 0...UInt64.max))",
                topics: [harness.topics.deadLetters]
            )
        )
        var seen = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while seen < count && ContinuousClock.now < deadline {
            seen += await consumer.poll(maxRecords: 500, timeout: .milliseconds(500)).records.count
        }
        await consumer.close()
        return seen >= count
    }

    private func replays(_ harness: PipelineHarness) async throws {
        #expect(try await deadLettersReach(2, harness))

        var configuration = DeadLetterReplay.Configuration(kafka: harness.kafka, topics: harness.topics)
        configuration.groupID = "replay-\(harness.group)"
        configuration.maxReplays = 2
        configuration.idleTimeout = .seconds(3)
        let replay = DeadLetterReplay(configuration: configuration)

        // Run 1: the mailbox-less envelope goes back once (its new dead letter, made during the run, waits for
        // the next run); the forged one is permanent.
        let first = try await replay.run()
        #expect(first.replayed == 1)
        #expect(first.skippedPermanent == 1)
        #expect(try await deadLettersReach(3, harness))
        // Run 2: its second and last replay.
        let second = try await replay.run()
        #expect(second.replayed == 1)
        #expect(second.skipped == 0)
        #expect(try await deadLettersReach(4, harness))
        // Run 3: replayed twice already: skipped. Run 4: nothing left.
        let third = try await replay.run()
        #expect(third.replayed == 0)
        #expect(third.skippedExhausted == 1)
        let fourth = try await replay.run()
        #expect(fourth == DeadLetterReplay.Report())

        // The dead-letter topic holds the forged envelope once and the persistent one three times, counted 0, 1, 2.
        let letters = try await harness.deadLetters(expecting: 4)
        #expect(letters.count == 4)
        let counts = letters.filter { $0.header("mailroom.reason") == Array("no_recipient_mailbox".utf8) }
            .map { $0.header(DeadLetterReplay.replayCountHeader).map { String(decoding: $0, as: UTF8.self) } ?? "0" }
        #expect(counts.sorted() == ["0", "1", "2"])
        #expect(letters.filter { $0.header("mailroom.reason") == Array("bad_signature".utf8) }.count == 1)
        #expect(try await harness.inboxCount() == 0)
        #expect(try await harness.rejectedCount() == 4)

        // Asked for by name, a permanent reason is replayed (and rejected again).
        var named = configuration
        named.groupID = "replay-named-\(harness.group)"
        named.reason = "bad_signature"
        let byName = try await DeadLetterReplay(configuration: named).run()
        #expect(byName.replayed == 1)
        #expect(byName.skippedOtherReason == 3)
        #expect(try await harness.eventually { try await harness.rejectedCount() == 5 })
    }
}
