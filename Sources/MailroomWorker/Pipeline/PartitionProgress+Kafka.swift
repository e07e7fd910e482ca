import MailroomKafka
import MailroomStore

extension PartitionProgress {
    /// One entry per partition in `records`: the offset after its last record, and the consumer's cached
    /// high-water mark.
    static func after(_ records: [KafkaRecord], group: String, consumer: KafkaConsumer) -> [PartitionProgress] {
        var next: [KafkaTopicPartition: Int64] = [:]
        for record in records {
            let partition = KafkaTopicPartition(topic: record.topic, partition: record.partition)
            next[partition] = max(next[partition] ?? 0, record.offset + 1)
        }
        return next.map { partition, offset in
            PartitionProgress(
                consumerGroup: group,
                topic: partition.topic,
                partition: partition.partition,
                nextOffset: offset,
                highWatermark: consumer.cachedHighWatermark(partition).map { max($0, offset) }
            )
        }
    }

    /// The high-water marks of `partitions` alone (the recorded offsets stay as they are).
    static func highWatermarks(
        of partitions: [KafkaTopicPartition],
        group: String,
        consumer: KafkaConsumer
    ) -> [PartitionProgress] {
        partitions.compactMap { partition in
            consumer.cachedHighWatermark(partition).map {
                PartitionProgress(
                    consumerGroup: group,
                    topic: partition.topic,
                    partition: partition.partition,
                    nextOffset: nil,
                    highWatermark: $0
                )
            }
        }
    }
}
