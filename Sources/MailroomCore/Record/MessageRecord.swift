public import MailroomEd25519

/// A mailbox row in portable form (record format v1): its owner's sealed copy, what it takes to verify the
/// sender's signature over that copy alone, and the row's mutable metadata.
///
/// A device receives records from the query library (`InboxMessage.record`, `SentboxMessage.record`) or the API,
/// and checks and opens them with its own key, with no database or Kafka. Binary and JSON forms are specified
/// byte for byte in docs/ENVELOPE.md ("Portable message records"), with vectors in
/// `Tests/MailroomCoreTests/Vectors/records.json`.
///
/// Parsing (``init(binary:)``, ``init(json:)``) checks the structure and both keys; ``verify(limits:using:)``
/// checks the signature; ``open(with:limits:using:)`` does both and decrypts. ``readAtMilliseconds`` is not signed:
/// it is the server's say, never the sender's.
public struct MessageRecord: Sendable, Hashable {
    /// Which mailbox the record comes from, and so whose copy it carries.
    public enum Kind: UInt8, Sendable, Hashable, CaseIterable {
        /// The recipient's copy (`recipient_ct`), with the hash of the sender's copy.
        case inbox = 1
        /// The sender's copy (`sender_ct`), with the hash of the recipient's copy.
        case sentbox = 2

        /// `inbox` or `sentbox`, as the JSON form writes it.
        public var name: String { self == .inbox ? "inbox" : "sentbox" }
    }

    /// The inbox or the sentbox.
    public var kind: Kind
    /// The message id.
    public var id: MessageID
    /// Who signed the message.
    public var sender: PublicKey
    /// Who the message is for.
    public var recipient: PublicKey
    /// Creation time, Unix milliseconds; must equal the id's time.
    public var createdAtMilliseconds: Int64
    /// The owner's sealed copy: the recipient's for an inbox record, the sender's for a sentbox record.
    public var ciphertext: [UInt8]
    /// BLAKE2b-256 of the other party's copy (32 bytes).
    public var otherCiphertextHash: [UInt8]
    /// The envelope signature (64 bytes).
    public var signature: [UInt8]
    /// When the recipient first read the message (inbox records), Unix milliseconds; not signed.
    public var readAtMilliseconds: Int64?

    /// Assembles a record; nothing is checked until ``verify(limits:using:)``.
    public init(
        kind: Kind,
        id: MessageID,
        sender: PublicKey,
        recipient: PublicKey,
        createdAtMilliseconds: Int64,
        ciphertext: [UInt8],
        otherCiphertextHash: [UInt8],
        signature: [UInt8],
        readAtMilliseconds: Int64? = nil
    ) {
        self.kind = kind
        self.id = id
        self.sender = sender
        self.recipient = recipient
        self.createdAtMilliseconds = createdAtMilliseconds
        self.ciphertext = ciphertext
        self.otherCiphertextHash = otherCiphertextHash
        self.signature = signature
        self.readAtMilliseconds = readAtMilliseconds
    }

    /// The owner of the mailbox the record comes from: the recipient (inbox) or the sender (sentbox).
    public var owner: PublicKey { kind == .inbox ? recipient : sender }

    /// Checks the sender's signature over the record alone.
    ///
    /// - Throws: ``EnvelopeError`` with code `invalid_message_id`, `invalid_ciphertext_length`,
    ///   `body_too_large`, `invalid_field_length` or `bad_signature`, in that order.
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
            ownCiphertext: ciphertext,
            otherHash: otherCiphertextHash,
            ownIsRecipient: kind == .inbox,
            signature: signature,
            limits: limits,
            verifier: verifier
        )
    }

    /// Verifies the record, then decrypts the owner's copy.
    ///
    /// - Throws: ``EnvelopeError``: `not_a_party` if `identity` does not own the record (checked first), what
    ///   ``verify(limits:using:)`` throws, or `decryption_failed`.
    /// - Parameter verifier: checks the signature: libsodium alone by default; a verifier with tables
    ///   (``Ed25519Verifier``) for many rows by the same senders.
    public func open(
        with identity: Identity,
        limits: EnvelopeLimits = EnvelopeLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError)
        -> [UInt8]
    {
        guard identity.publicKey == owner else {
            throw EnvelopeError(.notAParty, "the identity does not own this \(kind.name) record")
        }
        try verify(limits: limits, using: verifier)
        return try TextileBox.open(ciphertext, with: identity)
    }
}

extension MessageRecord {
    /// A record of the inbox copy of `copy`, with the time it was read.
    public init(_ copy: InboxCopy, readAtMilliseconds: Int64? = nil) {
        self.init(
            kind: .inbox,
            id: copy.id,
            sender: copy.sender,
            recipient: copy.recipient,
            createdAtMilliseconds: copy.createdAtMilliseconds,
            ciphertext: copy.recipientCiphertext,
            otherCiphertextHash: copy.senderCiphertextHash,
            signature: copy.signature,
            readAtMilliseconds: readAtMilliseconds
        )
    }

    /// A record of the sentbox copy of `copy`.
    public init(_ copy: SentboxCopy) {
        self.init(
            kind: .sentbox,
            id: copy.id,
            sender: copy.sender,
            recipient: copy.recipient,
            createdAtMilliseconds: copy.createdAtMilliseconds,
            ciphertext: copy.senderCiphertext,
            otherCiphertextHash: copy.recipientCiphertextHash,
            signature: copy.signature
        )
    }

    /// The record the worker stores for `envelope` in the mailbox of `kind`.
    public init(_ envelope: Envelope, kind: Kind) {
        switch kind {
        case .inbox: self.init(envelope.inboxCopy)
        case .sentbox: self.init(envelope.sentboxCopy)
        }
    }
}

extension MessageRecord: CustomStringConvertible {
    /// Metadata only, never the ciphertext.
    public var description: String {
        "MessageRecord(kind: \(kind.name), id: \(id), sender: \(sender), recipient: \(recipient), "
            + "createdAt: \(createdAtMilliseconds), ciphertextBytes: \(ciphertext.count))"
    }
}
