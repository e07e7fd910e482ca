public import MailroomEd25519

/// A sentbox row: the sender's own copy of a message with what it takes to verify the signature alone —
/// the metadata, the sender ciphertext, the BLAKE2b-256 hash of the recipient ciphertext and the signature.
///
/// The worker builds it with ``Envelope/sentboxCopy``; a reader builds it from the row's columns and calls
/// ``verify(limits:using:)`` or ``open(with:limits:using:)``.
public struct SentboxCopy: Sendable, Hashable {
    /// The message id.
    public var id: MessageID
    /// The sender (the sentbox owner), whose key the signature is checked against.
    public var sender: PublicKey
    /// The recipient.
    public var recipient: PublicKey
    /// Creation time, Unix milliseconds; must equal the id's time.
    public var createdAtMilliseconds: Int64
    /// The body sealed to the sender.
    public var senderCiphertext: [UInt8]
    /// BLAKE2b-256 of the recipient's copy (32 bytes).
    public var recipientCiphertextHash: [UInt8]
    /// The envelope signature (64 bytes).
    public var signature: [UInt8]

    /// Assembles a row, for example from database columns. Nothing is checked until ``verify(limits:using:)``.
    public init(
        id: MessageID,
        sender: PublicKey,
        recipient: PublicKey,
        createdAtMilliseconds: Int64,
        senderCiphertext: [UInt8],
        recipientCiphertextHash: [UInt8],
        signature: [UInt8]
    ) {
        self.id = id
        self.sender = sender
        self.recipient = recipient
        self.createdAtMilliseconds = createdAtMilliseconds
        self.senderCiphertext = senderCiphertext
        self.recipientCiphertextHash = recipientCiphertextHash
        self.signature = signature
    }

    /// Checks the row against the sender's signature.
    ///
    /// - Throws: ``EnvelopeError`` with code ``EnvelopeError/Code/invalidMessageID``,
    ///   ``EnvelopeError/Code/invalidCiphertextLength``, ``EnvelopeError/Code/bodyTooLarge``,
    ///   ``EnvelopeError/Code/invalidFieldLength`` or ``EnvelopeError/Code/badSignature``.
    /// - Parameter verifier: checks the signature: libsodium alone by default; a verifier with tables
    ///   (``Ed25519Verifier``) for many rows by the same senders.
    public func verify(
        limits: EnvelopeLimits = EnvelopeLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError) {
        try RowVerification.verify(
            id: id,
            sender: sender,
            recipient: recipient,
            createdAt: createdAtMilliseconds,
            ownCiphertext: senderCiphertext,
            otherHash: recipientCiphertextHash,
            ownIsRecipient: false,
            signature: signature,
            limits: limits,
            verifier: verifier
        )
    }

    /// Verifies the row, then decrypts the body with the sender's identity.
    ///
    /// - Throws: ``EnvelopeError``: what ``verify(limits:using:)`` throws, ``EnvelopeError/Code/notAParty`` if
    ///   `identity` is not the sender, or ``EnvelopeError/Code/decryptionFailed``.
    /// - Parameter verifier: checks the signature: libsodium alone by default; a verifier with tables
    ///   (``Ed25519Verifier``) for many rows by the same senders.
    public func open(
        with identity: Identity,
        limits: EnvelopeLimits = EnvelopeLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError)
        -> [UInt8]
    {
        guard identity.publicKey == sender else {
            throw EnvelopeError(.notAParty, "the identity is not the sender of this sentbox row")
        }
        try verify(limits: limits, using: verifier)
        return try TextileBox.open(senderCiphertext, with: identity)
    }
}
