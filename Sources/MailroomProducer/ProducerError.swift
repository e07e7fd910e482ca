import MailroomCore
import MailroomKafka

/// Why a message was not sent. Never carries the body or a private key.
public struct ProducerError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        /// The recipient's key string is not a Textile key string or 64 hex digits of a valid Ed25519 key.
        public static let invalidRecipientKey = Code(rawValue: "invalid_recipient_key")
        /// The body is over the configured maximum.
        public static let bodyTooLarge = Code(rawValue: "body_too_large")
        /// The broker did not acknowledge the envelope within the send timeout.
        public static let brokerUnreachable = Code(rawValue: "broker_unreachable")
        /// The broker refused the envelope.
        public static let deliveryFailed = Code(rawValue: "delivery_failed")
        /// The envelope could not be built.
        public static let sealingFailed = Code(rawValue: "sealing_failed")
        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "ProducerError.\(code): \(message)" }

    init(_ error: KafkaError) {
        switch error.code {
        case .timedOut: self.init(.brokerUnreachable, "\(error)")
        case .messageTooLarge: self.init(.bodyTooLarge, "\(error)")
        default: self.init(.deliveryFailed, "\(error)")
        }
    }

    init(_ error: EnvelopeError) {
        self.init(error.code == .bodyTooLarge ? .bodyTooLarge : .sealingFailed, "\(error)")
    }
}
