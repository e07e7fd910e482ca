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
    static let total = 6_000

    /// Sets up mailboxes for a sender and 30 recipients, starts a worker (batches of 100) and sends `total`
    /// envelopes while it runs.
    private func startWorkerAndSend(
        _ harness: PipelineHarness,
        name: String,
        _ configure: (inout WorkerConfiguration) -> Void = { _ in }
    ) async throws -> (Worker, Task<Void, any Error>) {
        let sender = Identity.generate()
        let recipients = (0..<30).map { _ in Identity.generate() }
        try await harness.setUpMailboxes([sender] + recipients)
        let producer = try harness.producer()
        let messages = (0..<Self.total).map {
            BulkMessage(
                recipient: recipients[$0 % recipients.count].publicKey.textileString,
                body: [UInt8]("m\($0)".utf8)
            )
        }
        var configuration = harness.workerConfiguration
        configuration.batchSize = 100
        configuration.workerName = name
        configure(&configuration)
        let worker = Worker(configuration: configuration)
        let task = Task { try await worker.run() }
        let results = await producer.sendBulk(from: sender, messages: messages)
        #expect(results.allSatisfy { $0.isSent })
        await producer.close()
        return (worker, task)
    }

    @Test func workerWaitsOutAStoppedDatabaseThenCompletesLosingNothing() async throws {
        let harness = try await PipelineHarness.make(partitions: 3)
        let total = Self.total
        let (worker, task) = try await startWorkerAndSend(harness, name: "outage-worker")

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
        let total = Self.total
        let (first, firstRun) = try await startWorkerAndSend(harness, name: "outage-stopped") {
            $0.shutdownGracePeriod = .seconds(2)
        }

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

        var configuration = harness.workerConfiguration
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
