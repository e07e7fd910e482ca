import Foundation
import Logging
import MailroomKafka
import MailroomStore
import Metrics

/// The worker's loop: it polls the consumer, verifies batches on every core, and hands them to the
/// ``BatchWriter``, writing one batch while it polls and verifies the next ones.
///
/// Not `Sendable`: its state (records carried over a wait, the poll started ahead, partition positions) belongs
/// to the one task that runs ``run()``. The writes and the poll started ahead are child tasks of ``run()``'s task
/// group, so none outlives it.
final class BatchLoop {
    private let configuration: WorkerConfiguration
    private let consumer: KafkaConsumer
    private let metrics: WorkerMetrics
    private let statistics: WorkerStatistics
    private let logger: Logger
    private let stop: StopFlag
    private let verifier: BatchVerifier
    private let writer: BatchWriter
    /// Records polled while a write waited out a failure (partitions paused); processed next.
    private var carried: [KafkaRecord] = []
    /// Last offset handed over per partition, for the lag gauge.
    private var positions: [KafkaTopicPartition: Int64] = [:]

    typealias VerifiedBatch = BatchWriter.VerifiedBatch

    init(
        configuration: WorkerConfiguration,
        consumer: KafkaConsumer,
        metrics: WorkerMetrics,
        statistics: WorkerStatistics,
        logger: Logger,
        stop: StopFlag,
        verifier: BatchVerifier,
        writer: BatchWriter
    ) {
        self.configuration = configuration
        self.consumer = consumer
        self.metrics = metrics
        self.statistics = statistics
        self.logger = logger
        self.stop = stop
        self.verifier = verifier
        self.writer = writer
    }

    /// Polls, verifies and commits batches until asked to stop; then finishes the batches in hand.
    ///
    /// Batches are written (by the ``BatchWriter``, each on a child task) while the next ones are polled and verified:
    /// up to ``WorkerConfiguration/writeQueueDepth`` batches (and ``WorkerConfiguration/writeQueueBytes`` of
    /// envelopes) are being written or wait to be. A batch's write starts only once the previous one has stored
    /// its offsets, so offsets still move in order and only past messages that are durable. The next poll is
    /// started before a batch is verified, so that the records are copied out of librdkafka while the cores
    /// verify. This loop is the consumer's only poller (see ``WriteInFlight``).
    func run() async {
        await withDiscardingTaskGroup { group in
            await run(&group)
        }
    }

    private func run(_ group: inout DiscardingTaskGroup) async {
        var writes: [WriteInFlight] = []
        let limit = WriteQueueLimit(depth: configuration.writeQueueDepth, bytes: configuration.writeQueueBytes)
        loop: while !stop.isSet {
            let polling = ContinuousClock.now
            let records = await nextRecords()
            let polled = ContinuousClock.now
            if !records.isEmpty { prefetch(&group) }
            let (verdicts, verifying) = await timed { await verifier.verify(records) }
            let verified = ContinuousClock.now
            // Make room for this batch. An empty poll waits for nothing: the next poll waits (for records) instead,
            // and the writes in hand go on meanwhile.
            let incoming = records.reduce(0) { $0 + ($1.value?.count ?? 0) }
            while !records.isEmpty,
                limit.isFull(writes: writes.count, queuedBytes: writes.reduce(0) { $0 + $1.bytes }, incoming: incoming)
            {
                guard await finish(writes.removeFirst()) else { break loop }
            }
            while let first = writes.first, let succeeded = first.outcome {
                writes.removeFirst()
                guard succeeded else {
                    logger.warning("stopping with a batch not written; it will be redelivered")
                    break loop
                }
            }
            if !records.isEmpty {
                logger.trace(
                    "iteration",
                    metadata: [
                        "records": "\(records.count)", "poll_ms": "\((polled - polling).nanoseconds / 1_000_000)",
                        "verify_ms": "\(verifying.nanoseconds / 1_000_000)",
                        "wait_for_write_ms": "\((ContinuousClock.now - verified).nanoseconds / 1_000_000)",
                    ]
                )
                writes.append(
                    startWrite(
                        VerifiedBatch(records: records, verdicts: verdicts),
                        bytes: incoming,
                        after: writes.last,
                        in: &group
                    )
                )
            }
            #if DEBUG
            statistics.noteWritesHeld(writes.count)
            #endif
            updateLag()
            if writes.isEmpty { await writer.refreshProgressIfDue() }
        }
        // Finish in order; once one fails, the ones after it fail without writing.
        for write in writes { _ = await finish(write) }
        await dropPrefetch()
    }

    /// Starts writing `batch` on a child task, once `previous` (if any) is written; if `previous` fails, so does
    /// this one, without writing (neither stores offsets; both are redelivered).
    private func startWrite(
        _ batch: VerifiedBatch,
        bytes: Int,
        after previous: WriteInFlight?,
        in group: inout DiscardingTaskGroup
    ) -> WriteInFlight {
        let write = WriteInFlight(bytes: bytes)
        let writer = writer
        let workerName = configuration.workerName
        let writeExecutor = writer.executor
        group.addTask {
            // The batch's client-side work (sorting, encoding) and its lookups run while the batches before it are
            // being written, one batch at a time (each after the one before has looked up: one lookahead runs at a
            // time).
            if let previous { await previous.begun() }
            let prepared = await writer.lookAhead(BatchWriter.prepare(batch, worker: workerName))
            write.begin()
            // The wait for the batch before and the commit run on the writer's loop (``BatchWriter/executor``):
            // the commit before ends there and resumes this one on the same thread, with no trip through the
            // pool. Preparing this batch and releasing it stay on the pool, beside the next commit.
            await withTaskExecutorPreference(writeExecutor) {
                if let previous, await !previous.completion() {
                    write.enter(.done(succeeded: false))
                    return
                }
                write.enter(.done(succeeded: await writer.commit(batch, prepared, reportingTo: write)))
            }
        }
        return write
    }

    /// Waits for a write, polling the paused consumer while it waits out a failure. Returns whether it succeeded.
    private func finish(_ write: WriteInFlight) async -> Bool {
        while true {
            switch await write.settled() {
            case .done(let succeeded):
                if !succeeded { logger.warning("stopping with a batch not written; it will be redelivered") }
                return succeeded
            case .waitingOutFailure:
                await keepGroupWhileWaiting(.milliseconds(100))
            case .writing:
                continue
            }
        }
    }

    /// `body`'s result and how long it took.
    private func timed<T>(_ body: () async -> T) async -> (T, Duration) {
        let started = ContinuousClock.now
        let value = await body()
        return (value, ContinuousClock.now - started)
    }

    // MARK: - Polling

    /// The next records in poll order: those carried over from a wait, else the next poll's.
    private func nextRecords() async -> [KafkaRecord] {
        if !carried.isEmpty {
            defer { carried.removeAll() }
            return carried
        }
        return await poll(timeout: configuration.batchLinger)
    }

    /// A poll started ahead of time (``prefetch(_:)``), taken by the next ``poll(timeout:)``.
    private var prefetched: OneShot<KafkaConsumer.Batch>?

    /// Starts the next poll now, on a child task (the consumer polls on its own thread), so that it runs while
    /// this batch is verified.
    private func prefetch(_ group: inout DiscardingTaskGroup) {
        guard prefetched == nil else { return }
        let consumer = consumer
        let size = configuration.batchSize
        let linger = configuration.batchLinger
        let next = OneShot<KafkaConsumer.Batch>()
        prefetched = next
        group.addTask { next.fulfill(await consumer.poll(maxRecords: size, timeout: linger)) }
    }

    /// Waits for a prefetched poll and drops its records (on shutdown: their offsets are not stored, so they
    /// are redelivered).
    private func dropPrefetch() async {
        if let prefetched { _ = await prefetched.value }
        prefetched = nil
    }

    /// Polls: a prefetched poll's records first, so that records stay in partition order.
    private func poll(timeout: Duration) async -> [KafkaRecord] {
        let batch: KafkaConsumer.Batch
        if let prefetched {
            self.prefetched = nil
            batch = await prefetched.value
        } else {
            batch = await consumer.poll(maxRecords: configuration.batchSize, timeout: timeout)
        }
        noteConsumerErrors(batch.errors)
        for record in batch.records {
            positions[KafkaTopicPartition(topic: record.topic, partition: record.partition)] = record.offset
        }
        return batch.records
    }

    /// Waits, polling the (paused) consumer meanwhile so the group keeps this member; anything it still
    /// returns is kept for later.
    private func keepGroupWhileWaiting(_ delay: Duration) async {
        carried += await poll(timeout: delay)
    }

    // MARK: - Observability

    // MARK: - Observability

    private var lastConsumerErrorLog: ContinuousClock.Instant?

    private func noteConsumerErrors(_ errors: [KafkaError]) {
        guard let first = errors.first else { return }
        // The broker going away produces a stream of these; one line every few seconds is enough.
        if let last = lastConsumerErrorLog, ContinuousClock.now - last < .seconds(5) { return }
        lastConsumerErrorLog = .now
        logger.warning("Kafka consumer error", metadata: ["error": "\(first)", "count": "\(errors.count)"])
    }

    private func updateLag() {
        for partition in consumer.assignment {
            guard let high = consumer.cachedHighWatermark(partition) else { continue }
            let position = positions[partition].map { $0 + 1 } ?? high
            metrics.lag(partition.topic, partition.partition).record(max(0, high - position))
        }
    }
}
