/// Why an envelope, a mailbox row or a sealed body was rejected.
///
/// The ``reason`` is a stable snake_case string that the worker writes on dead-letter records; the ``description``
/// explains the problem and never contains bodies or key material.
public struct EnvelopeError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. Extensible: new codes may be added; match on the ones you handle.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The stable snake_case reason string.
        public let reason: String
        private init(_ reason: String) { self.reason = reason }

        // MARK: Parsing and verification (the worker's dead-letter reasons)

        /// The first byte is not a version this build understands (only 1).
        public static let unsupportedVersion = Code("unsupported_version")
        /// The bytes end before a field that the layout requires.
        public static let truncated = Code("truncated")
        /// Bytes follow the signature.
        public static let trailingBytes = Code("trailing_bytes")
        /// A ciphertext shorter than a sealed box's 72-byte overhead, or two copies of different lengths.
        public static let invalidCiphertextLength = Code("invalid_ciphertext_length")
        /// The body (ciphertext length − 72) exceeds ``EnvelopeLimits/maxBodyBytes``.
        public static let bodyTooLarge = Code("body_too_large")
        /// The sender key is not a valid Ed25519 point (off the curve, small order or non-canonical).
        public static let invalidSenderKey = Code("invalid_sender_key")
        /// The recipient key is not a valid Ed25519 point.
        public static let invalidRecipientKey = Code("invalid_recipient_key")
        /// `created_at` differs from the millisecond time in the message id, or is outside ULID's 48-bit range;
        /// also a message id string that is not a ULID.
        public static let invalidMessageID = Code("invalid_message_id")
        /// The Ed25519 signature does not verify against the sender key.
        public static let badSignature = Code("bad_signature")

        // MARK: Rows and bodies

        /// A row field (hash, signature) has the wrong length.
        public static let invalidFieldLength = Code("invalid_field_length")
        /// The identity is neither the sender nor the recipient of the message.
        public static let notAParty = Code("not_a_party")
        /// A sealed body did not open with the identity's key (wrong key or corrupted ciphertext).
        public static let decryptionFailed = Code("decryption_failed")

        // MARK: Portable records

        /// The bytes or JSON are not a well-formed record (magic, kind, lengths, members, base64url).
        public static let invalidRecord = Code("invalid_record")
        /// A record format version this build does not read (only 1).
        public static let unsupportedRecordVersion = Code("unsupported_record_version")

        // MARK: Batch envelopes (format v2)

        /// A batch header or part that is not well formed: unknown kind or part type, no recipients, fields a
        /// personalised batch leaves zero that are not, a path longer than any tree of the format has.
        public static let invalidBatch = Code("invalid_batch")
        /// The batch names more recipients than ``BatchLimits/maxRecipients``.
        public static let batchTooLarge = Code("batch_too_large")
        /// The shared payload or the sender's copy does not hash to the value in the signed header.
        public static let payloadMismatch = Code("payload_mismatch")
        /// The leaf and its Merkle path (or the sender copy's recipients list) do not lead to the batch's root.
        public static let badMerklePath = Code("bad_merkle_path")

        /// Every code that ``BatchRecipientEnvelope/verify(_:limits:using:verifiedRoots:)`` and
        /// ``BatchSenderCopy/verify(_:limits:using:verifiedRoots:)`` can raise, in the order their checks run.
        public static let batchVerificationCodes: [Code] = [
            .truncated, .unsupportedVersion, .invalidBatch, .batchTooLarge, .invalidMessageID,
            .invalidCiphertextLength, .bodyTooLarge, .trailingBytes, .invalidSenderKey, .invalidRecipientKey,
            .payloadMismatch, .badMerklePath, .badSignature,
        ]

        /// Every code that ``Envelope/verify(_:limits:)`` can raise, in the order its checks run.
        public static let verificationCodes: [Code] = [
            .unsupportedVersion, .truncated, .invalidMessageID, .invalidCiphertextLength, .bodyTooLarge,
            .trailingBytes, .invalidSenderKey, .invalidRecipientKey, .badSignature,
        ]

        /// The reason string.
        public var description: String { reason }
    }

    /// What went wrong.
    public let code: Code
    /// A human-readable explanation: offsets and lengths, never bodies or keys.
    public let detail: String
    /// Where the error was raised.
    public let file: String
    /// Where the error was raised.
    public let line: Int

    init(_ code: Code, _ detail: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.detail = detail
        self.file = file
        self.line = line
    }

    /// The stable snake_case reason string, e.g. `bad_signature`.
    public var reason: String { code.reason }

    /// `EnvelopeError(reason: …, detail: …)`.
    public var description: String { "EnvelopeError(reason: \(code.reason), detail: \(detail))" }
}
