import Foundation
import MailroomCore
import MailroomPostgres
import MailroomProducer
import MailroomTestSupport
import Testing

@testable import MailroomWorker

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
    ) async throws -> (Worker, Task<Void, any Error>, produced: [MessageID]) {
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
        let produced = results.compactMap { result -> MessageID? in
            guard case .sent(let id, _, _) = result else { return nil }
            return id
        }
        #expect(produced.count == Self.total)
        await producer.close()
        return (worker, task, produced)
    }

    /// Every write the worker tried again so far.
    static func retries(_ worker: Worker) -> Int {
        worker.statistics.snapshot.postgresRetries.values.reduce(0, +)
    }

    /// Waits until the write in hand has failed against the stopped database (a retry is counted), then returns
    /// what the worker counted as stored. Writes run one at a time and count what they stored before the next
    /// one starts, so the count is final: nothing can be stored until the database is back.
    static func storedOnceTheWriteInHandFails(_ worker: Worker, retriesBefore: Int) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(60)
        while retries(worker) == retriesBefore {
            try #require(ContinuousClock.now < deadline, "the worker never noticed that PostgreSQL stopped")
            try await Task.sleep(for: .milliseconds(20))
        }
        return worker.statistics.snapshot.stored
    }

    @Test func workerWaitsOutAStoppedDatabaseThenCompletesLosingNothing() async throws {
        let harness = try await PipelineHarness.make(partitions: 3)
        let total = Self.total
        let (worker, task, produced) = try await startWorkerAndSend(harness, name: "outage-worker")

        // Stop PostgreSQL while the worker is writing.
        #expect(try await harness.eventually { worker.statistics.snapshot.stored > 0 })
        let retriesBefore = Self.retries(worker)
        try TestEnvironment.devStack("pg-stop")
        let storedAtStop = try await Self.storedOnceTheWriteInHandFails(worker, retriesBefore: retriesBefore)
        // While the database is down nothing is acknowledged as stored, however often the worker tries again.
        let retriesAtStop = Self.retries(worker)
        #expect(try await harness.eventually { Self.retries(worker) >= retriesAtStop + 3 })
        #expect(worker.statistics.snapshot.stored == storedAtStop)
        try TestEnvironment.devStack("pg-start")

        #expect(try await harness.eventually(timeout: .seconds(120)) { try await harness.inboxCount() == total })
        #expect(try await harness.sentboxCount() == total)
        #expect(try await harness.storedIDs() == produced.sorted(), "each produced message once, and nothing else")
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
        let (first, firstRun, produced) = try await startWorkerAndSend(harness, name: "outage-stopped") {
            $0.shutdownGracePeriod = .seconds(2)
        }

        #expect(try await harness.eventually { first.statistics.snapshot.stored > 0 })
        let retriesBefore = Self.retries(first)
        try TestEnvironment.devStack("pg-stop")
        let storedAtStop = try await Self.storedOnceTheWriteInHandFails(first, retriesBefore: retriesBefore)
        // The loop holds verified batches queued behind the failing write, which the stop must give up too.
        #expect(
            try await harness.eventually { first.statistics.writesHeld >= 2 },
            "no batch was queued behind the failing write: \(first.statistics.writesHeld)"
        )
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
        #expect(try await harness.storedIDs() == produced.sorted(), "each produced message once, and nothing else")
        #expect(try await harness.rejectedCount() == 0)
        // Counters too: a batch given up on and redelivered is counted once.
        #expect(try await harness.count("SELECT coalesce(sum(messages), 0)::bigint FROM mailbox_usage") == total)
        #expect(storedAtStop < total, "the outage must hit mid-run for this test to mean anything")
        second.stop()
        try await secondRun.value
        await harness.drop()
    }
}
