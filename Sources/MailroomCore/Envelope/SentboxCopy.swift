/// A sentbox row: the sender's own copy of a message with what it takes to verify the signature alone —
/// the metadata, the sender ciphertext, the BLAKE2b-256 hash of the recipient ciphertext and the signature.
///
/// The worker builds it with ``Envelope/sentboxCopy``; a reader builds it from the row's columns and calls
/// ``verify(limits:)`` or ``open(with:limits:)``.
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

    /// Assembles a row, for example from database columns. Nothing is checked until ``verify(limits:)``.
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
    public func verify(limits: EnvelopeLimits = EnvelopeLimits()) throws(EnvelopeError) {
        try RowVerification.verify(
            id: id,
            sender: sender,
            recipient: recipient,
            createdAt: createdAtMilliseconds,
            ownCiphertext: senderCiphertext,
            otherHash: recipientCiphertextHash,
            ownIsRecipient: false,
            signature: signature,
            limits: limits
        )
    }

    /// Verifies the row, then decrypts the body with the sender's identity.
    ///
    /// - Throws: ``EnvelopeError``: what ``verify(limits:)`` throws, ``EnvelopeError/Code/notAParty`` if
    ///   `identity` is not the sender, or ``EnvelopeError/Code/decryptionFailed``.
    public func open(
        with identity: Identity,
        limits: EnvelopeLimits = EnvelopeLimits()
    ) throws(EnvelopeError)
        -> [UInt8]
    {
        guard identity.publicKey == sender else {
            throw EnvelopeError(.notAParty, "the identity is not the sender of this sentbox row")
        }
        try verify(limits: limits)
        return try TextileBox.open(senderCiphertext, with: identity)
    }
}
