/// How far a consumer group has durably got in one partition, and how far the broker has: a
/// `worker_progress` row, written by ``MessageWriter/write(_:rejections:worker:progress:on:)`` in the same
/// transaction as the batch, so that lag can be read from PostgreSQL alone (`mailroom_ops.worker_progress`).
public struct PartitionProgress: Sendable, Hashable {
    public var consumerGroup: String
    public var topic: String
    public var partition: Int32
    /// The next offset to consume: every record before it is durable in PostgreSQL or on the dead-letter
    /// topic. `nil` when only the high-water mark is being refreshed.
    public var nextOffset: Int64?
    /// The broker's high-water mark (offset of the next record to be produced) as the worker last saw it.
    public var highWatermark: Int64?

    /// - Parameters:
    ///   - consumerGroup: the worker's consumer group.
    ///   - topic: the envelope topic.
    ///   - partition: the partition.
    ///   - nextOffset: the next offset to consume, or `nil` to keep the recorded one.
    ///   - highWatermark: the broker's high-water mark, or `nil` when not known.
    public init(consumerGroup: String, topic: String, partition: Int32, nextOffset: Int64?, highWatermark: Int64?) {
        self.consumerGroup = consumerGroup
        self.topic = topic
        self.partition = partition
        self.nextOffset = nextOffset
        self.highWatermark = highWatermark
    }
}
