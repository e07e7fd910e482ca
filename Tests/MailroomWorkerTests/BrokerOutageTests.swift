import Foundation
import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomProducer
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

/// The broker killed and restarted while a worker drains and a producer sends. The broker is a stack of its own
/// (`scripts/dev-stack kafka-start` with `MAILROOM_KAFKA_STORAGE=s3`: Tansu keeping its topics in a local S3
/// endpoint, so they survive the restart), so no other test sees the outage. It runs in the fault-injection pass
/// (`MAILROOM_TEST_FAULTS=1`), alone, so that its load does not skew the main pass's timing-sensitive tests.
@Suite(
    "Broker killed and restarted",
    .enabled(if: TestEnvironment.faultInjection && TestEnvironment.hasDatabase && TestEnvironment.devStack != nil)
)
struct BrokerOutageTests {
    @Test func everythingAcknowledgedIsStoredOnceAndDeadLettersArePublishedAfterTheOutage() async throws {
        let kafkaPort = try FreePort.reserve()
        var s3Port = try FreePort.reserve()
        while s3Port == kafkaPort { s3Port = try FreePort.reserve() }  // each is free, not necessarily distinct
        let stack = [
            "MAILROOM_STACK": "broker-outage-\(UInt32.random(in: 0...UInt32.max))",
            "MAILROOM_KAFKA_STORAGE": "s3",
            "MAILROOM_KAFKA_PORT": "\(kafkaPort)",
            "MAILROOM_S3_PORT": "\(s3Port)",
        ]
        try TestEnvironment.devStack("kafka-start", environment: stack)
        do {
            try await run(brokers: "127.0.0.1:\(stack["MAILROOM_KAFKA_PORT"]!)", stack: stack)
        } catch {
            try? TestEnvironment.devStack("down", "--purge", environment: stack)
            throw error
        }
        try TestEnvironment.devStack("down", "--purge", environment: stack)
    }

    private func run(brokers: String, stack: [String: String]) async throws {
        let database = try await TestDatabase.create()
        let migrations = try Migration.load(from: TestEnvironment.packageRoot.appendingPathComponent("Migrations"))
        try await database.withConnection { connection in _ = try await Migrator().migrate(migrations, on: connection) }
        let topics = MailroomTopics(envelopes: "envelopes", deadLetters: "dead-letters")
        let kafka = KafkaConfiguration(brokers: brokers, clientID: "mailroom-tests", overrides: ["log_level": "0"])
        _ = try await KafkaAdmin.createTopics(
            [topics.envelopes, topics.deadLetters],
            partitions: 3,
            configuration: kafka
        )
        let harness = PipelineHarness(database: database, topics: topics, group: "outage-workers", kafka: kafka)
        do {
            try await outage(harness, stack: stack)
        } catch {
            await harness.drop()
            throw error
        }
        await harness.drop()
    }

    private func outage(_ harness: PipelineHarness, stack: [String: String]) async throws {
        let database = harness.database

        let sender = Identity.generate()
        let recipients = (0..<10).map { _ in Identity.generate() }
        let nobody = Identity.generate()  // no mailbox: its mail is dead-lettered
        try await harness.setUpMailboxes([sender] + recipients)

        let worker = harness.startWorker(name: "outage-worker") { $0.batchSize = 100 }
        let producer = try harness.producer()
        // The first round, then (once the worker has joined its group and stores) one round every 100 ms, so that
        // sends go on through the outage.
        let rounds = 40
        let workerStores = worker.worker.statistics
        let sending = Task { () -> [(result: BulkResult, toNobody: Bool)] in
            var results: [(BulkResult, Bool)] = []
            for round in 0..<rounds {
                if round == 1 {
                    // Bounded: a worker that never stores fails the wait below instead of leaving this task hanging.
                    let deadline = ContinuousClock.now + .seconds(120)
                    while workerStores.snapshot.stored == 0, ContinuousClock.now < deadline {
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                } else if round > 1 {
                    try? await Task.sleep(for: .milliseconds(100))  // pacing, not synchronisation
                }
                var messages = (0..<50).map {
                    BulkMessage(
                        recipient: recipients[$0 % recipients.count].publicKey.textileString,
                        body: Array("r\(round)m\($0)".utf8)
                    )
                }
                messages.append(BulkMessage(recipient: nobody.publicKey.textileString, body: Array("r\(round)".utf8)))
                for (index, result) in await producer.sendBulk(from: sender, messages: messages).enumerated() {
                    results.append((result, index == messages.count - 1))
                }
            }
            return results
        }

        // Kill the broker (SIGKILL) once the worker is storing, and start it again: sends in flight meanwhile are
        // acknowledged after the restart (the producer replaces its client when the restarted broker fences it)
        // or fail as broker_unreachable past their timeout.
        #expect(
            try await harness.eventually(timeout: .seconds(120)) { worker.worker.statistics.snapshot.stored >= 300 }
        )
        try TestEnvironment.devStack("kafka-stop", "--kill", environment: stack)
        let storedDuringOutage = worker.worker.statistics.snapshot.stored
        try TestEnvironment.devStack("kafka-start", environment: stack)

        let results = await sending.value
        await producer.close()
        var acknowledged: [MessageID] = []
        var acknowledgedToNobody: [MessageID] = []
        var failed = 0
        var failedToNobody = 0
        for (result, toNobody) in results {
            switch result {
            case .sent(let id, _, _): if toNobody { acknowledgedToNobody.append(id) } else { acknowledged.append(id) }
            case .failed(let error):
                #expect(error.code == .brokerUnreachable, "a send failed with \(error)")
                if toNobody { failedToNobody += 1 } else { failed += 1 }
            }
        }
        #expect(results.count == rounds * 51)
        #expect(storedDuringOutage < acknowledged.count, "the outage must hit mid-run for this test to mean anything")

        // Every acknowledged envelope stored exactly once; those to nobody rejected once each. A send that failed
        // may still have reached the broker (its acknowledgement was lost), so it may be stored too, once; an
        // application retries it, and the worker stores the retry once as well (same id, same signature).
        #expect(
            try await harness.eventually(timeout: .seconds(180)) {
                try await harness.inboxCount() >= acknowledged.count
            }
        )
        #expect(
            try await harness.eventually(timeout: .seconds(60)) {
                try await harness.rejectedCount() >= acknowledgedToNobody.count
            }
        )
        try await worker.stop()
        let stored = try await database.withConnection { connection in
            try await connection.query("SELECT id FROM inbox_messages").map { try $0.decode(MessageID.self, column: 0) }
        }
        #expect(Set(stored).count == stored.count, "a message stored twice")
        #expect(Set(acknowledged).isSubset(of: Set(stored)), "an acknowledged send is not stored")
        #expect(stored.count <= acknowledged.count + failed)
        #expect(try await harness.sentboxCount() == stored.count)
        let rejected = try await database.withConnection { connection in
            try await connection.query("SELECT message_id, reason FROM rejected_envelopes").map {
                (try $0.decode(UUID.self, column: 0), try $0.decode(String.self, column: 1))
            }
        }
        #expect(rejected.allSatisfy { $0.1 == RejectionReason.noRecipientMailbox })
        let rejectedIDs = Set(rejected.map(\.0))
        #expect(rejectedIDs.count == rejected.count)
        #expect(Set(acknowledgedToNobody.map(\.uuid)).isSubset(of: rejectedIDs))
        #expect(rejected.count <= acknowledgedToNobody.count + failedToNobody)

        // The dead letters reached the restarted broker (at least once each: a retried publish may repeat one).
        // (Joining a group takes Tansu's S3 engine about 20 s, so the reader gets longer than the harness's.)
        let reader = try KafkaConsumer(
            .init(kafka: harness.kafka, groupID: "outage-dlq-reader", topics: [harness.topics.deadLetters])
        )
        var ids = Set<MessageID>()
        let deadline = ContinuousClock.now + .seconds(120)
        while ids.count < rejected.count && ContinuousClock.now < deadline {
            for letter in await reader.poll(maxRecords: 500, timeout: .milliseconds(500)).records {
                if let id = try? Envelope.verify(letter.value ?? []).id { ids.insert(id) }
            }
        }
        await reader.close()
        #expect(Set(ids.map(\.uuid)) == rejectedIDs)
    }
}
