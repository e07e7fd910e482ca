import Foundation
import MailroomCore
import MailroomPostgres
import MailroomProducer
import MailroomTestSupport
import MailroomWorker
import Testing

/// Stops and restarts the shared PostgreSQL, so it runs in a pass of its own (`MAILROOM_TEST_FAULTS=1`).
@Suite("Worker through a PostgreSQL outage", .enabled(if: TestEnvironment.faultInjection), .serialized)
struct PostgresOutageTests {
    @Test func workerWaitsOutAStoppedDatabaseThenCompletesLosingNothing() async throws {
        let harness = try await PipelineHarness.make(partitions: 3)
        let sender = Identity.generate()
        let recipients = (0..<30).map { _ in Identity.generate() }
        try await harness.setUpMailboxes([sender] + recipients)
        let producer = try harness.producer()
        let total = 6_000
        let messages = (0..<total).map { BulkMessage(recipient: recipients[$0 % recipients.count].publicKey.textileString, body: [UInt8]("m\($0)".utf8)) }

        var configuration = harness.workerConfiguration
        configuration.batchSize = 100
        configuration.workerName = "outage-worker"
        let worker = Worker(configuration: configuration)
        let task = Task { try await worker.run() }

        let results = await producer.sendBulk(from: sender, messages: messages)
        #expect(results.allSatisfy { $0.isSent })
        await producer.close()

        // Stop PostgreSQL while the worker is writing.
        #expect(try await harness.eventually { worker.statistics.snapshot.stored > 0 })
        try TestEnvironment.devStack("pg-stop")
        let storedAtStop = worker.statistics.snapshot.stored
        try await Task.sleep(for: .seconds(3))
        // While the database is down nothing is acknowledged as stored.
        #expect(worker.statistics.snapshot.stored == storedAtStop)
        try TestEnvironment.devStack("pg-start")

        #expect(try await harness.eventually(timeout: .seconds(120)) { try await harness.inboxCount() == total })
        #expect(try await harness.sentboxCount() == total)
        #expect(try await harness.rejectedCount() == 0)
        #expect(storedAtStop < total, "the outage must hit mid-run for this test to mean anything")
        worker.stop()
        try await task.value
        await harness.drop()
    }

    /// With PostgreSQL down, a stopping worker gives up on the write in hand and on the verified batches queued
    /// behind it once its grace period is over: it exits, their offsets are not stored, and a new worker
    /// delivers every message exactly once (rows and counters).
    @Test func aWorkerStoppedDuringAnOutageGivesUpItsQueuedBatchesAndANewOneDeliversEachOnce() async throws {
        let harness = try await PipelineHarness.make(partitions: 3)
        let sender = Identity.generate()
        let recipients = (0..<30).map { _ in Identity.generate() }
        try await harness.setUpMailboxes([sender] + recipients)
        let producer = try harness.producer()
        let total = 6_000
        let messages = (0..<total).map { BulkMessage(recipient: recipients[$0 % recipients.count].publicKey.textileString, body: [UInt8]("q\($0)".utf8)) }

        var configuration = harness.workerConfiguration
        configuration.batchSize = 100
        configuration.shutdownGracePeriod = .seconds(2)
        configuration.workerName = "outage-stopped"
        let first = Worker(configuration: configuration)
        let firstRun = Task { try await first.run() }
        let results = await producer.sendBulk(from: sender, messages: messages)
        #expect(results.allSatisfy { $0.isSent })
        await producer.close()

        #expect(try await harness.eventually { first.statistics.snapshot.stored > 0 })
        try TestEnvironment.devStack("pg-stop")
        let storedAtStop = first.statistics.snapshot.stored
        // Long enough for the loop to verify and queue batches behind the failing write.
        try await Task.sleep(for: .seconds(1))
        let stopping = ContinuousClock.now
        first.stop()
        try await firstRun.value
        let stopTook = ContinuousClock.now - stopping
        #expect(stopTook < .seconds(20), "the worker must give up after its grace period, not wait for PostgreSQL")
        #expect(first.statistics.snapshot.stored == storedAtStop)
        try TestEnvironment.devStack("pg-start")

        configuration.workerName = "outage-successor"
        let second = Worker(configuration: configuration)
        let secondRun = Task { try await second.run() }
        #expect(try await harness.eventually(timeout: .seconds(120)) { try await harness.inboxCount() == total })
        #expect(try await harness.sentboxCount() == total)
        #expect(try await harness.rejectedCount() == 0)
        // Counters too: a batch given up on and redelivered is counted once.
        #expect(try await harness.count("SELECT coalesce(sum(messages), 0)::bigint FROM mailbox_usage") == total)
        #expect(storedAtStop < total, "the outage must hit mid-run for this test to mean anything")
        second.stop()
        try await secondRun.value
        await harness.drop()
    }
}
