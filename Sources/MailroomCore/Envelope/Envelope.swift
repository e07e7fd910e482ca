public import Foundation

/// A signed, encrypted message from one identity to another: the Kafka message value (format v1).
///
/// An `Envelope` value is always authentic: it comes either from ``seal(from:to:body:id:createdAt:limits:)``
/// or from ``verify(_:limits:)``, which parses strictly and checks the signature. It keeps its serialized bytes;
/// the other properties are views of them. The layout is in docs/ENVELOPE.md.
public struct Envelope: Sendable {
    let storage: [UInt8]
    let recipientCiphertextRange: Range<Int>
    let senderCiphertextRange: Range<Int>
    let recipientCiphertextDigest: Bytes32
    let senderCiphertextDigest: Bytes32

    /// The message id (a ULID).
    public let id: MessageID
    /// Who sent (and signed) the message.
    public let sender: PublicKey
    /// Who the message is for.
    public let recipient: PublicKey
    /// Creation time, Unix milliseconds; always equal to ``MessageID/milliseconds`` of ``id``.
    public let createdAtMilliseconds: Int64

    init(
        storage: [UInt8],
        id: MessageID,
        sender: PublicKey,
        recipient: PublicKey,
        createdAtMilliseconds: Int64,
        recipientCiphertextRange: Range<Int>,
        senderCiphertextRange: Range<Int>,
        recipientCiphertextDigest: Bytes32,
        senderCiphertextDigest: Bytes32
    ) {
        self.storage = storage
        self.id = id
        self.sender = sender
        self.recipient = recipient
        self.createdAtMilliseconds = createdAtMilliseconds
        self.recipientCiphertextRange = recipientCiphertextRange
        self.senderCiphertextRange = senderCiphertextRange
        self.recipientCiphertextDigest = recipientCiphertextDigest
        self.senderCiphertextDigest = senderCiphertextDigest
    }

    /// The format version (1).
    public var version: UInt8 { storage[0] }

    /// Creation time as a `Date`.
    public var createdAt: Date { Date(timeIntervalSince1970: Double(createdAtMilliseconds) / 1000) }

    /// The serialized envelope, as put on Kafka. No copy is made.
    public func serialized() -> [UInt8] { storage }

    /// The body sealed to the recipient (Textile layout: nonce || ephemeral key || tag || ciphertext).
    public var recipientCiphertext: [UInt8] { Array(storage[recipientCiphertextRange]) }

    /// The body sealed to the sender, for the sentbox (Textile layout).
    public var senderCiphertext: [UInt8] { Array(storage[senderCiphertextRange]) }

    /// BLAKE2b-256 of ``recipientCiphertext`` (32 bytes), stored in the sentbox row.
    public var recipientCiphertextHash: [UInt8] { recipientCiphertextDigest.bytes }

    /// BLAKE2b-256 of ``senderCiphertext`` (32 bytes), stored in the inbox row.
    public var senderCiphertextHash: [UInt8] { senderCiphertextDigest.bytes }

    /// The sender's Ed25519 signature (64 bytes).
    public var signature: [UInt8] { Array(storage[(storage.count - EnvelopeLayout.signatureBytes)...]) }

    /// The plaintext body length in bytes.
    public var bodyCount: Int { recipientCiphertextRange.count - SodiumBox.overhead }
}

extension Envelope: Equatable {
    /// Two envelopes are equal when their serialized bytes are.
    public static func == (lhs: Envelope, rhs: Envelope) -> Bool { lhs.storage == rhs.storage }
}

extension Envelope: CustomStringConvertible {
    /// Metadata only: id, sender, recipient, time and size, never the ciphertexts.
    public var description: String {
        "Envelope(id: \(id), sender: \(sender), recipient: \(recipient), createdAt: \(createdAtMilliseconds), "
            + "bodyBytes: \(bodyCount))"
    }
}
