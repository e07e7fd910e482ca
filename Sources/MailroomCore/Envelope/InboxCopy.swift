public import MailroomEd25519

/// An inbox row: the recipient's copy of a message with what it takes to verify the sender's signature alone —
/// the metadata, the recipient ciphertext, the BLAKE2b-256 hash of the sender ciphertext and the signature.
///
/// The worker builds it with ``Envelope/inboxCopy``; a reader builds it from the row's columns and calls
/// ``verify(limits:using:)`` or ``open(with:limits:using:)``.
public struct InboxCopy: Sendable, Hashable {
    /// The message id.
    public var id: MessageID
    /// The sender, whose key the signature is checked against.
    public var sender: PublicKey
    /// The recipient (the inbox owner).
    public var recipient: PublicKey
    /// Creation time, Unix milliseconds; must equal the id's time.
    public var createdAtMilliseconds: Int64
    /// The body sealed to the recipient.
    public var recipientCiphertext: [UInt8]
    /// BLAKE2b-256 of the sender's copy (32 bytes).
    public var senderCiphertextHash: [UInt8]
    /// The envelope signature (64 bytes).
    public var signature: [UInt8]

    /// Assembles a row, for example from database columns. Nothing is checked until ``verify(limits:using:)``.
    public init(
        id: MessageID,
        sender: PublicKey,
        recipient: PublicKey,
        createdAtMilliseconds: Int64,
        recipientCiphertext: [UInt8],
        senderCiphertextHash: [UInt8],
        signature: [UInt8]
    ) {
        self.id = id
        self.sender = sender
        self.recipient = recipient
        self.createdAtMilliseconds = createdAtMilliseconds
        self.recipientCiphertext = recipientCiphertext
        self.senderCiphertextHash = senderCiphertextHash
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
            ownCiphertext: recipientCiphertext,
            otherHash: senderCiphertextHash,
            ownIsRecipient: true,
            signature: signature,
            limits: limits,
            verifier: verifier
        )
    }

    /// Verifies the row, then decrypts the body with the recipient's identity.
    ///
    /// - Throws: ``EnvelopeError``: what ``verify(limits:using:)`` throws, ``EnvelopeError/Code/notAParty`` if
    ///   `identity` is not the recipient, or ``EnvelopeError/Code/decryptionFailed``.
    /// - Parameter verifier: checks the signature: libsodium alone by default; a verifier with tables
    ///   (``Ed25519Verifier``) for many rows by the same senders.
    public func open(
        with identity: Identity,
        limits: EnvelopeLimits = EnvelopeLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError)
        -> [UInt8]
    {
        guard identity.publicKey == recipient else {
            throw EnvelopeError(.notAParty, "the identity is not the recipient of this inbox row")
        }
        try verify(limits: limits, using: verifier)
        return try TextileBox.open(recipientCiphertext, with: identity)
    }
}
