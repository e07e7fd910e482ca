internal import CRdKafka

/// Metadata requests (blocking; callers run them off the cooperative pool).
enum RdKafkaMetadata {
    static func partitionCount(
        client: OpaquePointer,
        topic: String,
        timeoutMilliseconds: Int32
    ) -> Result<Int, KafkaError> {
        guard let topicHandle = rd_kafka_topic_new(client, topic, nil) else {
            return .failure(KafkaError(.client, message: "cannot open topic \(topic)"))
        }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(client, 0, topicHandle, &metadata, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .failure(rdKafkaError(.timedOut, err, context: "metadata for \(topic)"))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else {
            return .failure(KafkaError(.client, message: "no metadata for topic \(topic)"))
        }
        let topicMetadata = metadata.pointee.topics[0]
        if topicMetadata.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            return .failure(rdKafkaError(.client, topicMetadata.err, context: "topic \(topic)"))
        }
        return .success(Int(topicMetadata.partition_cnt))
    }

    /// Each partition's high-water mark (the offset the next record will get), asked of the partition leaders.
    static func endOffsets(
        client: OpaquePointer,
        topic: String,
        timeoutMilliseconds: Int32
    )
        -> Result<[Int32: Int64], KafkaError>
    {
        let count: Int
        switch partitionCount(client: client, topic: topic, timeoutMilliseconds: timeoutMilliseconds) {
        case .success(let partitions): count = partitions
        case .failure(let error): return .failure(error)
        }
        var ends: [Int32: Int64] = [:]
        for partition in 0..<Int32(count) {
            var low: Int64 = -1
            var high: Int64 = -1
            let err = rd_kafka_query_watermark_offsets(client, topic, partition, &low, &high, timeoutMilliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                return .failure(rdKafkaError(.timedOut, err, context: "watermarks of \(topic)/\(partition)"))
            }
            ends[partition] = high
        }
        return .success(ends)
    }
}
