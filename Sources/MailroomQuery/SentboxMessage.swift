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
    /// Who it was sent to; nil for a batch's entry (``recipients`` lists them).
    public var recipient: PublicKey?
    /// When it was created (the id's time).
    public var createdAt: Date
    /// What the row holds: a single message's copy (ciphertext, the hash of the recipient's copy, the
    /// signature), or a batch's sender copy (envelope format v2): one sentbox entry for all its recipients.
    public var content: Content

    /// A single message's copy, or a batch's sender copy.
    public enum Content: Sendable, Hashable {
        case single(SentboxCopy)
        /// The sender copy's value, unverified until ``SentboxMessage/verify(limits:using:)``.
        case batch(BatchMessageRecord)
    }

    /// The single message's copy; nil for a batch's entry.
    public var copy: SentboxCopy? { if case .single(let copy) = content { copy } else { nil } }

    init(row: SentboxRow, owner: PublicKey) throws(MailroomQueryError) {
        if let value = row.batchValue {
            self.id = row.id
            self.sender = owner
            self.recipient = nil
            self.createdAt = row.createdAt
            self.content = .batch(BatchMessageRecord(kind: .sentbox, value: value))
            return
        }
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
        self.content = .single(
            SentboxCopy(
                id: row.id,
                sender: owner,
                recipient: recipient,
                createdAtMilliseconds: Int64((row.createdAt.timeIntervalSince1970 * 1000).rounded()),
                senderCiphertext: row.body,
                recipientCiphertextHash: row.inboxBodyHash,
                signature: row.signature
            )
        )
    }

    /// The message as a portable record (docs/ENVELOPE.md, "Portable message records"): what the sender's device
    /// needs to verify and open its copy without the database.
    public var record: PortableRecord {
        switch content {
        case .single(let copy): .single(MessageRecord(copy))
        case .batch(let record): .batch(record, id: id)
        }
    }

    /// How many recipients the entry is for: 1 for a single message, the batch's count (as its header says,
    /// unverified until ``verify(limits:using:)``) for a batch's entry.
    public var recipientCount: Int {
        guard case .batch(let record) = content else { return 1 }
        return BatchRecordAssembly.recipientCount(ofValue: record.value)
    }

    /// Checks the sender's signature over this row alone.
    /// - Throws: ``EnvelopeError`` (`bad_signature` and friends) for a tampered row.
    /// - Parameter verifier: checks the signature: libsodium alone by default; an app backend that verifies many
    ///   rows passes one ``Ed25519Verifier`` with tables, made once, for all of them.
    public func verify(
        limits: EnvelopeLimits = EnvelopeLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError) {
        switch content {
        case .single(let copy): try copy.verify(limits: limits, using: verifier)
        case .batch(let record):
            _ = try record.verify(limits: BatchLimits(maxBodyBytes: limits.maxBodyBytes), using: verifier)
        }
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
        switch content {
        case .single(let copy): try copy.open(with: identity, limits: limits, using: verifier)
        case .batch(let record):
            try record.open(with: identity, limits: BatchLimits(maxBodyBytes: limits.maxBodyBytes), using: verifier)
        }
    }
}
