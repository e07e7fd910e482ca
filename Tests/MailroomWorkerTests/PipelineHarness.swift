import Foundation
import Logging
import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomProducer
import MailroomStore
import MailroomTestSupport
import MailroomWorker

/// A private pipeline for one test: its own database, topics and consumer group on the shared stack.
struct PipelineHarness: Sendable {
    let database: TestDatabase
    let topics: MailroomTopics
    let group: String
    let kafka: KafkaConfiguration

    static func make(partitions: Int = 4) async throws -> PipelineHarness {
        let database = try await TestDatabase.create()
        let migrations = try Migration.load(from: TestEnvironment.packageRoot.appendingPathComponent("Migrations"))
        try await database.withConnection { connection in _ = try await Migrator().migrate(migrations, on: connection) }
        let suffix = UInt32.random(in: 0...UInt32.max)
        let topics = MailroomTopics(envelopes: "envelopes-\(suffix)", deadLetters: "dlq-\(suffix)")
        let kafka = KafkaConfiguration(
            brokers: try TestEnvironment.requireBrokers(),
            clientID: "mailroom-tests",
            overrides: ["log_level": "3"]
        )
        _ = try await KafkaAdmin.createTopics(
            [topics.envelopes, topics.deadLetters],
            partitions: partitions,
            configuration: kafka
        )
        return PipelineHarness(database: database, topics: topics, group: "workers-\(suffix)", kafka: kafka)
    }

    var workerConfiguration: WorkerConfiguration {
        var configuration = WorkerConfiguration(kafka: kafka, databaseURL: database.url)
        configuration.topics = topics
        configuration.groupID = group
        configuration.batchLinger = .milliseconds(20)
        configuration.batchSize = 500
        configuration.retryMaxDelay = .milliseconds(500)
        return configuration
    }

    /// A producer for the test topics. Bulk sends go out as single envelopes (v1) unless `batches`: the suites that
    /// count one sentbox copy per message exercise the v1 path; BatchPipelineTests and the invite tests the v2 one.
    func producer(batches: Bool = false) throws -> MailroomProducer {
        var configuration = MailroomProducer.Configuration(kafka: kafka, topics: topics, sendTimeout: .seconds(20))
        if !batches { configuration.minBatchRecipients = .max }
        return try MailroomProducer(configuration)
    }

    func setUpMailboxes(_ identities: [Identity]) async throws {
        try await database.withConnection { connection in
            for identity in identities {
                _ = try await MailboxQueries.setup(owner: identity.publicKey.bytes, on: connection)
            }
        }
    }

    func count(_ sql: PostgresQuery) async throws -> Int {
        try await database.withConnection { connection in
            Int(try await connection.query(sql).single().decode(Int64.self, column: 0))
        }
    }

    func inboxCount() async throws -> Int { try await count("SELECT count(*) FROM inbox_messages") }
    func sentboxCount() async throws -> Int { try await count("SELECT count(*) FROM sentbox_messages") }
    func rejectedCount() async throws -> Int { try await count("SELECT count(*) FROM rejected_envelopes") }

    /// The id of every inbox row, sorted, duplicates kept: compared with the ids a test produced, it shows each
    /// message stored exactly once (a redelivery stored under another id, or to another recipient, shows twice).
    func storedIDs() async throws -> [MessageID] {
        try await database.withConnection { connection in
            try await connection.query("SELECT id FROM inbox_messages").map {
                try $0.decode(MessageID.self, column: 0)
            }.sorted()
        }
    }

    /// Runs a worker in this process until `stop()`.
    func startWorker(
        name: String = "worker-\(UInt16.random(in: 0...UInt16.max))",
        _ configure: (inout WorkerConfiguration) -> Void = { _ in }
    ) -> RunningWorker {
        var configuration = workerConfiguration
        configuration.workerName = name
        configure(&configuration)
        var logger = Logger(label: "mailroom.test.worker")
        logger.logLevel = .warning
        let worker = Worker(configuration: configuration, logger: logger)
        let task = Task { try await worker.run() }
        return RunningWorker(worker: worker, task: task)
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    /// Reads every record of the dead-letter topic (until none arrive for a few seconds).
    func deadLetters(expecting count: Int) async throws -> [KafkaRecord] {
        let consumer = try KafkaConsumer(
            .init(kafka: kafka, groupID: "dlq-reader-\(group)", topics: [topics.deadLetters])
        )
        var records: [KafkaRecord] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while records.count < count && ContinuousClock.now < deadline {
            records += await consumer.poll(maxRecords: 500, timeout: .milliseconds(500)).records
        }
        await consumer.close()
        return records
    }

    func drop() async {
        try? await database.drop()
    }

    /// Runs `body` with a fresh pipeline, dropped afterwards whether or not `body` throws.
    static func with(partitions: Int = 4, _ body: (PipelineHarness) async throws -> Void) async throws {
        let harness = try await make(partitions: partitions)
        do {
            try await body(harness)
        } catch {
            await harness.drop()
            throw error
        }
        await harness.drop()
    }
}

struct RunningWorker: Sendable {
    let worker: Worker
    let task: Task<Void, any Error>

    func stop() async throws {
        worker.stop()
        try await task.value
    }
}
