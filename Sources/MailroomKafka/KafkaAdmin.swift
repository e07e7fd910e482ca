internal import CRdKafka
internal import Dispatch

/// Topic administration.
public enum KafkaAdmin {
    /// What happened to one requested topic.
    public enum TopicOutcome: Sendable, Equatable {
        case created
        case alreadyExists
    }

    /// Creates topics, treating "already exists" as success. Runs off the cooperative pool.
    /// - Throws: ``KafkaError`` with ``KafkaError/Code/admin`` for any other failure, or
    ///   ``KafkaError/Code/timedOut`` when the broker does not answer in time.
    public static func createTopics(
        _ names: [String],
        partitions: Int,
        replicationFactor: Int = 1,
        configuration: KafkaConfiguration,
        timeoutMilliseconds: Int32 = 15_000
    ) async throws(KafkaError) -> [String: TopicOutcome] {
        let result: Result<[String: TopicOutcome], KafkaError> = await withCheckedContinuation { continuation in
            DispatchQueue(label: "mailroom.kafka.admin").async {
                continuation.resume(
                    returning: Result { () throws(KafkaError) in
                        try createTopicsBlocking(
                            names,
                            partitions: partitions,
                            replicationFactor: replicationFactor,
                            properties: configuration.adminProperties,
                            timeoutMilliseconds: timeoutMilliseconds
                        )
                    }
                )
            }
        }
        return try result.get()
    }

    private static func createTopicsBlocking(
        _ names: [String],
        partitions: Int,
        replicationFactor: Int,
        properties: [String: String],
        timeoutMilliseconds: Int32
    ) throws(KafkaError) -> [String: TopicOutcome] {
        let conf = try RdKafkaConfig.make(properties)
        let client = try makeRdKafkaClient(type: RD_KAFKA_PRODUCER, conf: conf)
        defer { rd_kafka_destroy(client) }
        let resultQueue = rd_kafka_queue_new(client)!
        defer { rd_kafka_queue_destroy(resultQueue) }

        var errorText = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for name in names {
            guard
                let topic = rd_kafka_NewTopic_new(
                    name,
                    Int32(partitions),
                    Int32(replicationFactor),
                    &errorText,
                    errorText.count
                )
            else {
                throw KafkaError(.admin, message: "topic \(name): \(cText(errorText))")
            }
            newTopics.append(topic)
        }
        let options = rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMilliseconds, &errorText, errorText.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMilliseconds, &errorText, errorText.count)
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(client, buffer.baseAddress, buffer.count, options, resultQueue)
        }
        guard let event = rd_kafka_queue_poll(resultQueue, timeoutMilliseconds + 5_000) else {
            throw KafkaError(.timedOut, message: "the broker did not answer CreateTopics in time")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        if eventError != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw rdKafkaError(
                eventError == RD_KAFKA_RESP_ERR__TIMED_OUT ? .timedOut : .admin,
                eventError,
                context: "create topics"
            )
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(.admin, message: "unexpected admin result")
        }
        var count = 0
        guard let topics = rd_kafka_CreateTopics_result_topics(result, &count) else { return [:] }
        var outcomes: [String: TopicOutcome] = [:]
        for index in 0..<count {
            let topicResult = topics[index]
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let err = rd_kafka_topic_result_error(topicResult)
            switch err {
            case RD_KAFKA_RESP_ERR_NO_ERROR: outcomes[name] = .created
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: outcomes[name] = .alreadyExists
            default:
                let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""
                throw KafkaError(
                    .admin,
                    kafkaErrorName: rd_kafka_err2name(err).map { String(cString: $0) },
                    message: "topic \(name): \(text)"
                )
            }
        }
        return outcomes
    }
}
