public import Foundation
public import MailroomCore
public import MailroomEd25519
internal import MailroomStore

/// A message in its sender's sentbox: the sender's own sealed copy. ``open(with:limits:using:)`` verifies and decrypts.
public struct SentboxMessage: Sendable, Hashable {
    /// The message id (a ULID: time-ordered).
    public var id: MessageID
    /// The sentbox owner.
    public var sender: PublicKey
    /// Who it was sent to.
    public var recipient: PublicKey
    /// When it was created (the id's time).
    public var createdAt: Date
    /// The row as stored: ciphertext, the hash of the recipient's copy and the signature.
    public var copy: SentboxCopy

    init(row: SentboxRow, owner: PublicKey) throws(MailroomQueryError) {
        let recipient: PublicKey
        do {
            recipient = try PublicKey(bytes: row.recipient)
        } catch {
            throw MailroomQueryError(.corruptRow, "sentbox message \(row.id) has an invalid recipient key: \(error)")
        }
        self.id = row.id
        self.sender = owner
        self.recipient = recipient
        self.createdAt = row.createdAt
        self.copy = SentboxCopy(
            id: row.id,
            sender: owner,
            recipient: recipient,
            createdAtMilliseconds: Int64((row.createdAt.timeIntervalSince1970 * 1000).rounded()),
            senderCiphertext: row.body,
            recipientCiphertextHash: row.inboxBodyHash,
            signature: row.signature
        )
    }

    /// The message as a portable record (docs/ENVELOPE.md, "Portable message records"): what the sender's device
    /// needs to verify and open its copy without the database.
    public var record: MessageRecord { MessageRecord(copy) }

    /// Checks the sender's signature over this row alone.
    /// - Throws: ``EnvelopeError`` (`bad_signature` and friends) for a tampered row.
    /// - Parameter verifier: checks the signature: libsodium alone by default; an app backend that verifies many
    ///   rows passes one ``Ed25519Verifier`` with tables, made once, for all of them.
    public func verify(
        limits: EnvelopeLimits = EnvelopeLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError) {
        try copy.verify(limits: limits, using: verifier)
    }

    /// Verifies the signature over this row, then decrypts the body with the sender's identity.
    /// - Throws: ``EnvelopeError``: `bad_signature` (or another row reason) for a tampered row, `not_a_party` if
    ///   `identity` is not the sender, `decryption_failed`.
    public func open(
        with identity: Identity,
        limits: EnvelopeLimits = EnvelopeLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError)
        -> [UInt8]
    {
        try copy.open(with: identity, limits: limits, using: verifier)
    }
}
