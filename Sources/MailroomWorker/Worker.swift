import Foundation
public import Logging
import MailroomCore
public import MailroomEd25519
import MailroomKafka
import MailroomPostgres
import MailroomStore
public import ServiceLifecycle
import Synchronization

/// A consumer-group member that verifies envelopes and writes them to the mailboxes.
///
/// Each batch: poll up to ``WorkerConfiguration/batchSize`` records; verify them on all cores (while the
/// previous batch is being written); check mailboxes; write every accepted message and every rejection in one
/// PostgreSQL transaction; publish rejections to the dead-letter topic; only then store the batch's offsets.
/// An offset therefore never passes a record that is not durably in PostgreSQL or on the dead-letter topic,
/// and the idempotent write makes any redelivery harmless.
///
/// PostgreSQL down: the batch is kept, partitions are paused (the member keeps polling, so it stays in the
/// group), and the write is retried with back-off until it succeeds. On SIGTERM/SIGINT (graceful shutdown) the
/// batch in hand is finished, offsets are committed, and the member leaves the group.
public final class Worker: Service, Sendable {
    private let configuration: WorkerConfiguration
    private let logger: Logger
    private let metrics = WorkerMetrics()
    /// What this worker has done so far.
    public let statistics = WorkerStatistics()
    /// Checks the envelopes' signatures: this worker's own tables (``WorkerConfiguration/precomputedKeys``),
    /// re-checked by libsodium (``WorkerConfiguration/signatureRecheckSampleRate``). Its statistics are exported as
    /// the `mailroom_worker_signature_*` metrics.
    public let signatureVerifier: Ed25519Verifier
    private let stopFlag = StopFlag()

    /// A worker; with tables on, creating it runs the signature tables' self-test (logged).
    public init(configuration: WorkerConfiguration, logger: Logger = Logger(label: "mailroom.worker")) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "worker"] = "\(configuration.workerName)"
        self.logger = logger
        self.signatureVerifier = Ed25519Verifier(
            configuration: .init(
                precomputedKeyLimit: configuration.precomputedKeys,
                recheckSampleRate: configuration.signatureRecheckSampleRate
            ),
            logger: logger
        )
    }

    /// Asks the worker to finish its batch and stop (as a graceful shutdown does).
    public func stop() {
        stopFlag.set()
    }

    /// Sink-managed offsets: on assignment, the next offsets `worker_progress` recorded for this group (in the
    /// same transactions as the rows), so that a database restored or failed over to a point that lost commits
    /// gets those envelopes again from Kafka. Runs on the consumer's polling thread; if PostgreSQL cannot be
    /// read then, the group's committed offsets are used (logged).
    static func recordedOffsets(
        configuration: WorkerConfiguration,
        logger: Logger
    ) -> @Sendable ([KafkaTopicPartition]) -> [KafkaTopicPartition: Int64] {
        let connection = configuration.postgresConnection
        let group = configuration.groupID
        return { partitions in
            do {
                let rows = try PostgresConnection.blockingQuery(
                    connection,
                    """
                    SELECT topic, kafka_partition, next_offset FROM worker_progress
                    WHERE consumer_group = \(group) AND next_offset IS NOT NULL
                    """
                )
                var offsets: [KafkaTopicPartition: Int64] = [:]
                for row in rows {
                    let partition = KafkaTopicPartition(
                        topic: try row.decode(String.self, column: 0),
                        partition: try row.decode(Int32.self, column: 1)
                    )
                    offsets[partition] = try row.decode(Int64.self, column: 2)
                }
                return offsets.filter { partitions.contains($0.key) }
            } catch {
                logger.warning(
                    "worker_progress could not be read at assignment; starting at the group's committed offsets",
                    metadata: ["error": "\(error)"]
                )
                return [:]
            }
        }
    }

    public func run() async throws {
        let consumer = try KafkaConsumer(
            .init(
                kafka: configuration.kafka,
                groupID: configuration.groupID,
                topics: [configuration.topics.envelopes],
                startingOffsets: Self.recordedOffsets(configuration: configuration, logger: logger)
            ),
            logger: logger
        )
        let deadLetterProducer = try KafkaProducer(
            .init(kafka: configuration.kafka, maxInFlight: 10_000),
            logger: logger
        )
        let verifier = BatchVerifier(
            handler: RecordHandler(
                limits: configuration.limits,
                maxClockSkew: configuration.maxClockSkew,
                maxEnvelopeAge: configuration.maxEnvelopeAge,
                workerName: configuration.workerName,
                signatureVerifier: signatureVerifier
            )
        )
        let writer = BatchWriter(
            configuration: configuration,
            consumer: consumer,
            deadLetters: DeadLetterPublisher(producer: deadLetterProducer, topic: configuration.topics.deadLetters),
            metrics: metrics,
            statistics: statistics,
            logger: logger,
            stop: stopFlag,
            handler: verifier.handler
        )
        let loop = BatchLoop(
            configuration: configuration,
            consumer: consumer,
            metrics: metrics,
            statistics: statistics,
            logger: logger,
            stop: stopFlag,
            verifier: verifier,
            writer: writer
        )
        logger.info(
            "worker starting",
            metadata: [
                "group": "\(configuration.groupID)", "topic": "\(configuration.topics.envelopes)",
                "batch_size": "\(configuration.batchSize)", "librdkafka": "\(librdkafkaVersion)",
                "precomputed_keys": "\(signatureVerifier.configuration.precomputedKeyLimit)",
                "signature_recheck_sample_rate": "\(signatureVerifier.configuration.recheckSampleRate)",
            ]
        )
        if !KafkaConfiguration.consumerRefetchesPromptly {
            logger.warning(
                "librdkafka before 2.1: after a full prefetch queue the consumer waits 1 s to fetch again, so a worker draining a backlog idles; run librdkafka 2.1 or later (docs/OPERATIONS.md)",
                metadata: ["librdkafka": "\(librdkafkaVersion)"]
            )
        }
        // A graceful shutdown (SIGTERM) stops the loop and finishes the batches in hand. A cancellation (the service
        // group cancels its services when one fails, e.g. the metrics port cannot be bound) stops the loop too, and
        // gives up the writes still in hand: their offsets are not stored, so those batches are redelivered.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await loop.run()
            } onGracefulShutdown: { [stopFlag] in
                stopFlag.set()
            }
        } onCancel: { [stopFlag] in
            stopFlag.set()
        }
        do {
            try await consumer.commit()
        } catch {
            logger.warning(
                "final offset commit failed; the group will redeliver from the last commit",
                metadata: ["error": "\(error)"]
            )
        }
        await consumer.close()
        await deadLetterProducer.close(timeoutMilliseconds: 5_000)
        await writer.closeDatabase()
        logger.info("worker stopped", metadata: ["consumed": "\(statistics.snapshot.consumed)"])
    }
}
