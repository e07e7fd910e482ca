public import Logging
import Synchronization

/// A consumer-group member over librdkafka that hands records over in batches.
///
/// Offsets advance only when the application calls ``storeOffsets(after:)`` — after the batch is durable —
/// and librdkafka commits stored offsets in the background, on rebalance and on ``close()``.
public final class KafkaConsumer: Sendable {
    /// What a consumer needs beyond librdkafka's properties.
    public struct Configuration: Sendable {
        public var kafka: KafkaConfiguration
        public var groupID: String
        public var topics: [String]
        /// Sink-managed offsets: called on each assignment (on the consumer's polling thread, which it may
        /// block) with the partitions assigned; returns the next offset the sink has durably recorded for any
        /// of them. A partition starts there when that is before the group's committed offset (the sink lost
        /// what Kafka thinks it stored, e.g. a database restored to an earlier point), else at the committed
        /// offset: nothing is ever skipped, at worst something is delivered again.
        public var startingOffsets: (@Sendable ([KafkaTopicPartition]) -> [KafkaTopicPartition: Int64])?

        public init(
            kafka: KafkaConfiguration,
            groupID: String,
            topics: [String],
            startingOffsets: (@Sendable ([KafkaTopicPartition]) -> [KafkaTopicPartition: Int64])? = nil
        ) {
            self.kafka = kafka
            self.groupID = groupID
            self.topics = topics
            self.startingOffsets = startingOffsets
        }
    }

    /// A change of the partitions this member owns.
    public enum Rebalance: Sendable, Equatable {
        case assigned([KafkaTopicPartition])
        case revoked([KafkaTopicPartition])
    }

    /// One call's result: records, and consumer-level errors (e.g. the broker is unreachable) to log.
    public struct Batch: Sendable {
        public var records: [KafkaRecord]
        public var errors: [KafkaError]
    }

    private let handle: RdKafkaConsumerHandle
    private let rebalances: RebalanceLog
    private let logger: Logger

    /// Joins the group (in the background) and subscribes to the topics.
    public init(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "mailroom.kafka.consumer")
    ) throws(KafkaError) {
        let rebalances = RebalanceLog()
        self.rebalances = rebalances
        self.logger = logger
        let listener = RebalanceListener(
            onAssign: { partitions in
                logger.info("partitions assigned", metadata: ["partitions": "\(partitions)"])
                rebalances.events.withLock { $0.append(.assigned(partitions)) }
            },
            onRevoke: { partitions in
                logger.info("partitions revoked", metadata: ["partitions": "\(partitions)"])
                rebalances.events.withLock { $0.append(.revoked(partitions)) }
            },
            startingOffsets: configuration.startingOffsets,
            onRewind: { partition, from, to in
                logger.warning(
                    "starting a partition where the sink's own record says, before the group's committed offset",
                    metadata: ["partition": "\(partition)", "committed": "\(from)", "starting_at": "\(to)"]
                )
            }
        )
        handle = try RdKafkaConsumerHandle(
            properties: configuration.kafka.consumerProperties(groupID: configuration.groupID),
            topics: configuration.topics,
            listener: listener
        )
    }

    /// Waits up to `timeout` for records, returning as soon as `maxRecords` are there or the time is up.
    public func poll(maxRecords: Int, timeout: Duration) async -> Batch {
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        )
        let (records, errors) = await handle.poll(maxRecords: max(1, maxRecords), timeoutMilliseconds: milliseconds)
        return Batch(records: records, errors: errors)
    }

    /// Rebalances since the last call, oldest first.
    public func takeRebalances() -> [Rebalance] {
        rebalances.events.withLock { events in
            defer { events.removeAll() }
            return events
        }
    }

    /// Marks every record in `records` as processed: stores, per partition, the offset after the highest one.
    public func storeOffsets(after records: [KafkaRecord]) throws(KafkaError) {
        var next: [KafkaTopicPartition: Int64] = [:]
        for record in records {
            let key = KafkaTopicPartition(topic: record.topic, partition: record.partition)
            next[key] = max(next[key] ?? 0, record.offset + 1)
        }
        try handle.storeOffsets(next)
    }

    /// Commits stored offsets now and waits for the broker's answer.
    public func commit() async throws(KafkaError) {
        try await handle.commit()
    }

    /// Pauses (or resumes) fetching from all assigned partitions; keep calling ``poll(maxRecords:timeout:)``
    /// meanwhile so the group keeps this member.
    public func setPaused(_ paused: Bool) {
        handle.setPaused(paused)
    }

    /// The partitions this member owns now.
    public var assignment: [KafkaTopicPartition] { handle.assignment() }

    /// The high-water mark the broker last reported for `partition`, without a network call.
    public func cachedHighWatermark(_ partition: KafkaTopicPartition) -> Int64? {
        handle.cachedHighWatermark(partition)
    }

    /// Commits, leaves the group and releases the client.
    public func close() async {
        await handle.close()
    }
}

/// Rebalances seen on librdkafka's thread, waiting for the application to take them.
private final class RebalanceLog: Sendable {
    let events = Mutex<[KafkaConsumer.Rebalance]>([])
}
