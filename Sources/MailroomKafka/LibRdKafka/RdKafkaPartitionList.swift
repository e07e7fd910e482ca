internal import CRdKafka

/// Helpers for `rd_kafka_topic_partition_list_t`.
enum RdKafkaPartitionList {
    /// Creates a list; the caller destroys it.
    static func make(
        _ entries: [(topic: String, partition: Int32, offset: Int64)]
    ) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))!
        for entry in entries {
            let element = rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition)!
            element.pointee.offset = entry.offset
        }
        return list
    }

    static func entries(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        guard let list else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
        }
    }
}
