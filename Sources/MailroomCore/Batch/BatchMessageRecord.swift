public import MailroomEd25519

/// A mailbox entry of a batch in portable form (record format v2): the batch record value a device needs to
/// verify it alone (head, leaf data, Merkle path and, for a shared body, the payload; or the sender's copy with
/// its recipients list), with the entry's unsigned metadata. Binary form: docs/ENVELOPE.md, "Portable batch
/// records (record format v2)".
public struct BatchMessageRecord: Sendable, Hashable {
    /// What a verified record holds.
    public enum Verified: Sendable {
        /// An inbox entry: one recipient's message.
        case inbox(BatchRecipientEnvelope)
        /// A sentbox entry: the sender's copy of the whole batch.
        case sentbox(BatchSenderCopy)
    }

    /// Inbox (a recipient record value) or sentbox (a sender's copy value).
    public var kind: MessageRecord.Kind
    /// The batch record value: a ``BatchRecipientEnvelope`` (inbox) or a ``BatchSenderCopy`` (sentbox).
    public var value: [UInt8]
    /// When the recipient first read the message, Unix milliseconds; not signed.
    public var readAtMilliseconds: Int64?

    static let magic: [UInt8] = Array("mrec".utf8)
    static let recordVersion: UInt8 = 2

    /// Assembles a record; nothing is checked until ``verify(limits:using:)``.
    public init(kind: MessageRecord.Kind, value: [UInt8], readAtMilliseconds: Int64? = nil) {
        self.kind = kind
        self.value = value
        self.readAtMilliseconds = readAtMilliseconds
    }

    /// The inbox record of a recipient's message.
    public init(_ envelope: BatchRecipientEnvelope, readAtMilliseconds: Int64? = nil) {
        self.init(kind: .inbox, value: envelope.serialized(), readAtMilliseconds: readAtMilliseconds)
    }

    /// The sentbox record of a sender's copy.
    public init(_ copy: BatchSenderCopy) {
        self.init(kind: .sentbox, value: copy.serialized())
    }

    /// The binary form: `mrec` | 0x02 | kind | value_len u32 | value | metadata_flags | read_at?.
    public func binary() -> [UInt8] {
        var out = Self.magic
        out.append(Self.recordVersion)
        out.append(kind.rawValue)
        out.appendBigEndian(UInt32(value.count))
        out += value
        if let readAt = readAtMilliseconds {
            out.append(0x01)
            out.appendBigEndian(UInt64(bitPattern: readAt))
        } else {
            out.append(0)
        }
        return out
    }

    /// Parses the binary form (structure only; ``verify(limits:using:)`` checks the value).
    ///
    /// - Throws: ``EnvelopeError`` with code `invalid_record` or `unsupported_record_version`.
    public init(binary bytes: [UInt8]) throws(EnvelopeError) {
        guard bytes.count >= 4, Array(bytes[0..<4]) == Self.magic else {
            throw EnvelopeError(.invalidRecord, "not a record: the first 4 bytes are not 'mrec'")
        }
        guard bytes.count >= 5 else { throw EnvelopeError(.invalidRecord, "the record ends before its version") }
        guard bytes[4] == Self.recordVersion else {
            throw EnvelopeError(.unsupportedRecordVersion, "record version \(bytes[4]); a batch record is version 2")
        }
        guard bytes.count >= 11 else { throw EnvelopeError(.invalidRecord, "\(bytes.count) bytes; at least 11") }
        guard let kind = MessageRecord.Kind(rawValue: bytes[5]) else {
            throw EnvelopeError(.invalidRecord, "kind \(bytes[5]) is neither 1 (inbox) nor 2 (sentbox)")
        }
        let valueCount = Int(bytes.bigEndianUInt32(at: 6))
        guard bytes.count - 10 >= valueCount + 1 else {
            throw EnvelopeError(.invalidRecord, "a \(valueCount)-byte value runs past the end")
        }
        let flags = bytes[10 + valueCount]
        guard flags & ~0x01 == 0 else { throw EnvelopeError(.invalidRecord, "unknown metadata flags \(flags)") }
        let expected = 11 + valueCount + (flags == 0x01 ? 8 : 0)
        guard bytes.count == expected else {
            throw EnvelopeError(.invalidRecord, "\(bytes.count) bytes, the record's fields take \(expected)")
        }
        self.kind = kind
        value = Array(bytes[10..<10 + valueCount])
        readAtMilliseconds = flags == 0x01 ? Int64(bitPattern: bytes.bigEndianUInt64(at: 11 + valueCount)) : nil
    }

    /// Verifies the value alone: as a recipient record (inbox) or a sender's copy (sentbox).
    ///
    /// - Throws: ``EnvelopeError`` with one of ``EnvelopeError/Code/batchVerificationCodes`` (a value of the
    ///   other part type is `invalid_batch`).
    public func verify(
        limits: BatchLimits = BatchLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError) -> Verified {
        switch kind {
        case .inbox: .inbox(try BatchRecipientEnvelope.verify(value, limits: limits, using: verifier))
        case .sentbox: .sentbox(try BatchSenderCopy.verify(value, limits: limits, using: verifier))
        }
    }

    /// Verifies the record, then decrypts its owner's body.
    ///
    /// - Throws: ``EnvelopeError``: what ``verify(limits:using:)`` throws, `not_a_party` (the identity is not the
    ///   recipient of an inbox record or the sender of a sentbox record) or `decryption_failed`.
    public func open(
        with identity: Identity,
        limits: BatchLimits = BatchLimits(),
        using verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(EnvelopeError) -> [UInt8] {
        switch try verify(limits: limits, using: verifier) {
        case .inbox(let envelope): try envelope.open(with: identity)
        case .sentbox(let copy): try copy.open(with: identity)
        }
    }
}
