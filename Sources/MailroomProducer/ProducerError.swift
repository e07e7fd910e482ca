public import MailroomCore
import MailroomKafka

/// Why a message was not sent. Never carries the body or a private key.
public struct ProducerError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        /// The recipient's key string is not a Textile key string or 64 hex digits of a valid Ed25519 key (also a
        /// submitted batch record whose recipient key is not a valid point).
        public static let invalidRecipientKey = Code(rawValue: "invalid_recipient_key")
        /// The body is over the configured maximum.
        public static let bodyTooLarge = Code(rawValue: "body_too_large")
        /// The broker did not acknowledge the envelope within the send timeout.
        public static let brokerUnreachable = Code(rawValue: "broker_unreachable")
        /// The broker refused the envelope.
        public static let deliveryFailed = Code(rawValue: "delivery_failed")
        /// The envelope (or batch) could not be built.
        public static let sealingFailed = Code(rawValue: "sealing_failed")

        // MARK: Submitted envelopes (``MailroomProducer/submit(_:)``): the envelope's own reason codes.

        /// The first byte is not a supported envelope version.
        public static let unsupportedVersion = Code(rawValue: "unsupported_version")
        /// The bytes end before a field the layout requires (an empty envelope included).
        public static let truncated = Code(rawValue: "truncated")
        /// Bytes follow the signature.
        public static let trailingBytes = Code(rawValue: "trailing_bytes")
        /// A sealed copy is shorter than a box, or the two copies differ in length.
        public static let invalidCiphertextLength = Code(rawValue: "invalid_ciphertext_length")
        /// The sender key is not an acceptable Ed25519 public key.
        public static let invalidSenderKey = Code(rawValue: "invalid_sender_key")
        /// `created_at` differs from the id's time.
        public static let invalidMessageID = Code(rawValue: "invalid_message_id")
        /// The signature does not verify against the sender key.
        public static let badSignature = Code(rawValue: "bad_signature")
        /// A batch value (format v2) is malformed: an unknown kind or part, no recipients, an index outside the
        /// batch.
        public static let invalidBatch = Code(rawValue: "invalid_batch")
        /// A batch value names more recipients than the format allows.
        public static let batchTooLarge = Code(rawValue: "batch_too_large")
        /// A batch value's shared payload (or the sender's copy) does not hash to what the signed header says.
        public static let payloadMismatch = Code(rawValue: "payload_mismatch")
        /// A recipient record's leaf and Merkle path (or a sender copy's recipients list) do not lead to the
        /// signed root.
        public static let badMerklePath = Code(rawValue: "bad_merkle_path")
        /// The envelope is dated further ahead of this clock than ``MailroomProducer/Configuration/maxClockSkew``:
        /// the worker would refuse it (`created_in_future`).
        public static let createdInFuture = Code(rawValue: "created_in_future")
        /// The envelope was created longer ago than ``MailroomProducer/Configuration/maxEnvelopeAge``: the
        /// worker would refuse it (`envelope_too_old`).
        public static let envelopeTooOld = Code(rawValue: "envelope_too_old")
        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String
    /// For an envelope refused by ``MailroomProducer/submit(_:)``, the check that refused it.
    public var envelopeError: EnvelopeError?

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A submitted envelope refused by `Envelope.verify` (or a batch value refused by `BatchRecipientEnvelope.verify`
    /// or `BatchSenderCopy.verify`): the code is the envelope's reason.
    init(refused error: EnvelopeError) {
        self.init(Code(rawValue: error.reason), error.detail)
        envelopeError = error
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
