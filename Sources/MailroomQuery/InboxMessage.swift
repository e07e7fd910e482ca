public import Foundation
public import MailroomCore
public import MailroomEd25519
internal import MailroomStore

/// A message in its recipient's inbox, still sealed. ``open(with:limits:using:)`` verifies and decrypts it.
public struct InboxMessage: Sendable, Hashable {
    /// The message id (a ULID: time-ordered).
    public var id: MessageID
    /// The inbox owner.
    public var recipient: PublicKey
    /// Who sent it (as stored; the signature over it is checked by ``verify(limits:using:)`` and ``open(with:limits:using:)``).
    public var sender: PublicKey
    /// When the sender created it (the id's time).
    public var createdAt: Date
    /// When its owner first read it, or `nil`.
    public var readAt: Date?
    /// What the row holds: a single message's copy (ciphertext, the hash of the sender's copy, the signature),
    /// or a batch recipient's record (envelope format v2), rebuilt from the row and its batch.
    public var content: Content

    /// A single message's copy, or a batch recipient's record.
    public enum Content: Sendable, Hashable {
        case single(InboxCopy)
        /// The recipient's record value, unverified until ``InboxMessage/verify(limits:using:)``.
        case batch(BatchMessageRecord)
    }

    /// The single message's copy; nil for a batch recipient's message.
    public var copy: InboxCopy? { if case .single(let copy) = content { copy } else { nil } }

    /// Whether the message came in a batch envelope (format v2).
    public var isBatchMember: Bool { if case .batch = content { true } else { false } }

    init(row: InboxRow, owner: PublicKey) throws(MailroomQueryError) {
        let sender: PublicKey
        do {
            sender = try PublicKey(bytes: row.sender)
        } catch {
            throw MailroomQueryError(.corruptRow, "inbox message \(row.id) has an invalid sender key: \(error)")
        }
        self.id = row.id
        self.recipient = owner
        self.sender = sender
        self.createdAt = row.createdAt
        self.readAt = row.readAt
        if let value = row.batchValue {
            content = .batch(
                BatchMessageRecord(
                    kind: .inbox,
                    value: value,
                    readAtMilliseconds: row.readAt.map { Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)) }
                )
            )
            return
        }
        guard !row.isBatchMember else {
            throw MailroomQueryError(.corruptRow, "inbox message \(row.id) is a batch's whose batch is not stored")
        }
        self.content = .single(
            InboxCopy(
                id: row.id,
                sender: sender,
                recipient: owner,
                createdAtMilliseconds: Int64((row.createdAt.timeIntervalSince1970 * 1000).rounded()),
                recipientCiphertext: row.body,
                senderCiphertextHash: row.sentboxBodyHash,
                signature: row.signature
            )
        )
    }

    /// Whether the owner has read it.
    public var isRead: Bool { readAt != nil }

    /// The message as a portable record (docs/ENVELOPE.md, "Portable message records"): what the owner's device
    /// needs to verify and open it without the database. `read_at` travels in the record's unsigned metadata,
    /// in whole milliseconds.
    public var record: PortableRecord {
        switch content {
        case .single(let copy):
            .single(
                MessageRecord(
                    copy,
                    readAtMilliseconds: readAt.map { Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)) }
                )
            )
        case .batch(let record): .batch(record, id: id)
        }
    }

    /// Checks the sender's signature over this row alone (no other row or the envelope is needed).
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

    /// Verifies the sender's signature over this row, then decrypts the body with the recipient's identity.
    /// - Throws: ``EnvelopeError``: `bad_signature` (or `invalid_message_id`, `invalid_field_length`, …) for a
    ///   tampered row, `not_a_party` if `identity` is not the recipient, `decryption_failed`.
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
