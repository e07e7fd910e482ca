internal import CRdKafka

/// Builds an `rd_kafka_conf_t` from properties. The returned pointer is owned by the caller until it is handed
/// to `rd_kafka_new`, which takes it over.
enum RdKafkaConfig {
    static func make(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(.configuration, message: "rd_kafka_conf_new failed")
        }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, key, value, &errorText, errorText.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                // librdkafka quotes the value; keep it out of the error when it may be a secret.
                let sensitive = key.contains("password") || key.contains("secret") || key.contains("key")
                let detail = sensitive ? "rejected" : cText(errorText)
                throw KafkaError(.configuration, message: "property \(key): \(detail)")
            }
        }
        return conf
    }
}

/// librdkafka's name and description for an error code.
func rdKafkaError(_ code: KafkaError.Code, _ err: rd_kafka_resp_err_t, context: String) -> KafkaError {
    let name = rd_kafka_err2name(err).map { String(cString: $0) }
    let text = rd_kafka_err2str(err).map { String(cString: $0) } ?? "unknown error"
    return KafkaError(code, kafkaErrorName: name, message: "\(context): \(text)")
}

/// Creates a client of the given type, taking over `conf`.
func makeRdKafkaClient(type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
    var errorText = [CChar](repeating: 0, count: 512)
    guard let client = rd_kafka_new(type, conf, &errorText, errorText.count) else {
        rd_kafka_conf_destroy(conf)
        let text = cText(errorText)
        throw KafkaError(.client, message: "cannot create Kafka client: \(text)")
    }
    return client
}

/// The librdkafka version loaded at run time (Mailroom needs 2.x; Debian's 2.0.2 cannot talk to Tansu).
public var librdkafkaVersion: String {
    String(cString: rd_kafka_version_str())
}

/// The loaded librdkafka's version as `rd_kafka_version()` gives it (`0xMMmmrrxx`: 2.16.0 is `0x021000ff`).
public var librdkafkaVersionNumber: Int {
    Int(rd_kafka_version())
}

/// The text in a NUL-terminated C buffer.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
