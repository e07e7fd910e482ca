/// An error from the Kafka layer. Never carries record keys or values.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        /// A configuration property was rejected by librdkafka.
        public static let configuration = Code(rawValue: "configuration")
        /// The client could not be created or has been closed.
        public static let client = Code(rawValue: "client")
        /// The record was not acknowledged by the broker (including `message.timeout.ms` expiry).
        public static let delivery = Code(rawValue: "delivery")
        /// The record is larger than the producer or broker allows.
        public static let messageTooLarge = Code(rawValue: "message_too_large")
        /// The broker could not be reached in time.
        public static let timedOut = Code(rawValue: "timed_out")
        /// An admin request (e.g. creating topics) failed.
        public static let admin = Code(rawValue: "admin")
        /// Committing or storing offsets failed.
        public static let offsets = Code(rawValue: "offsets")
        public var description: String { rawValue }
    }

    public var code: Code
    /// librdkafka's error name (e.g. `_MSG_TIMED_OUT`), when there is one.
    public var kafkaErrorName: String?
    public var message: String

    public init(_ code: Code, kafkaErrorName: String? = nil, message: String) {
        self.code = code
        self.kafkaErrorName = kafkaErrorName
        self.message = message
    }

    public var description: String {
        if let kafkaErrorName { return "KafkaError.\(code) [\(kafkaErrorName)]: \(message)" }
        return "KafkaError.\(code): \(message)"
    }
}
