internal import CRdKafka

/// Metadata requests (blocking; callers run them off the cooperative pool).
enum RdKafkaMetadata {
    static func partitionCount(client: OpaquePointer, topic: String, timeoutMilliseconds: Int32) -> Result<Int, KafkaError> {
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
}
