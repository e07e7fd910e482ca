public import Foundation
public import MailroomCore
public import MailroomEd25519
public import MailroomKafka
public import MailroomStore

/// Decides what one Kafka record is: a verified envelope, or a rejection with its reason.
///
/// Pure and stateless (the mailbox check, which needs the database, comes after), so it is unit-tested
/// directly, tombstones included. Data from outside never crashes it.
public struct RecordHandler: Sendable {
    /// The outcome for one record.
    public enum Verdict: Sendable {
        /// A single envelope (format v1).
        case accepted(Envelope)
        /// One recipient's record of a batch envelope (format v2).
        case acceptedBatchMember(BatchRecipientEnvelope)
        /// The sender's copy of a batch envelope (format v2).
        case acceptedSenderCopy(BatchSenderCopy)
        case rejected(Rejection)
    }

    public var limits: EnvelopeLimits
    public var maxClockSkew: Duration
    /// Envelopes created longer ago than this are rejected (`envelope_too_old`).
    public var maxEnvelopeAge: Duration
    public var workerName: String
    /// Checks the envelopes' signatures: the worker's own (``Worker/signatureVerifier``), with its tables.
    public var signatureVerifier: Ed25519Verifier
    /// The recipient limit of batch envelopes (format v2); their body limit is ``limits``'.
    public var maxBatchRecipients: Int
    /// Batches whose signature verified, shared by every thread of the worker: a batch's signature is checked
    /// once, its other records with hashes only.
    public let verifiedBatches: BatchSignatureCache

    public init(
        limits: EnvelopeLimits = EnvelopeLimits(),
        maxClockSkew: Duration = .seconds(300),
        maxEnvelopeAge: Duration = WorkerConfiguration.defaultMaxEnvelopeAge,
        workerName: String,
        signatureVerifier: Ed25519Verifier = .libsodiumOnly,
        maxBatchRecipients: Int = BatchLimits.formatMaxRecipients,
        verifiedBatches: BatchSignatureCache = BatchSignatureCache()
    ) {
        self.limits = limits
        self.maxClockSkew = maxClockSkew
        self.maxEnvelopeAge = maxEnvelopeAge
        self.workerName = workerName
        self.signatureVerifier = signatureVerifier
        self.maxBatchRecipients = maxBatchRecipients
        self.verifiedBatches = verifiedBatches
    }

    /// Parses, verifies and checks one record.
    public func handle(_ record: KafkaRecord, now: Date = Date()) -> Verdict {
        let source = RecordSource(topic: record.topic, partition: record.partition, offset: record.offset)
        guard let value = record.value else {
            return .rejected(
                Rejection(
                    source: source,
                    reason: RejectionReason.emptyRecord,
                    detail: "the record has no value (tombstone)",
                    envelopeBytes: 0,
                    worker: workerName
                )
            )
        }
        if BatchRecordAssembly.isBatchValue(value) {
            return handleBatch(value, key: record.key, source: source, now: now)
        }
        let envelope: Envelope
        do {
            envelope = try Envelope.verify(value, limits: limits, using: signatureVerifier)
        } catch {
            return .rejected(
                Rejection(
                    source: source,
                    reason: error.reason,
                    detail: error.detail,
                    envelopeBytes: value.count,
                    worker: workerName
                )
            )
        }
        if record.key.map({ $0 != envelope.recipient.bytes }) ?? true {
            return .rejected(
                rejection(
                    envelope,
                    source: source,
                    bytes: value.count,
                    reason: RejectionReason.keyMismatch,
                    detail: "the record key must be the recipient's 32-byte public key"
                )
            )
        }
        if let (reason, detail) = timeRefusal(created: envelope.createdAtMilliseconds, now: now) {
            return .rejected(
                rejection(envelope, source: source, bytes: value.count, reason: reason, detail: detail)
            )
        }
        return .accepted(envelope)
    }

    /// A batch envelope's record (format v2): a recipient's record or the sender's copy, verified alone (the
    /// batch's signature once per batch, through ``verifiedBatches``), then checked as a v1 envelope is: the key
    /// (the recipient's, or the sender's for the sender's copy), and the batch's time.
    func handleBatch(_ value: [UInt8], key: [UInt8]?, source: RecordSource, now: Date) -> Verdict {
        let batchLimits = BatchLimits(maxBodyBytes: limits.maxBodyBytes, maxRecipients: maxBatchRecipients)
        func refused(
            _ reason: String,
            _ detail: String,
            id: MessageID? = nil,
            sender: PublicKey? = nil,
            recipient: PublicKey? = nil
        ) -> Verdict {
            .rejected(
                Rejection(
                    source: source,
                    reason: reason,
                    detail: detail,
                    messageID: id?.uuid,
                    sender: sender?.bytes,
                    recipient: recipient?.bytes,
                    envelopeBytes: value.count,
                    worker: workerName
                )
            )
        }
        let verdict: Verdict
        let header: BatchHeader
        let id: MessageID
        let recipient: PublicKey?
        let expectedKey: [UInt8]
        do {
            if BatchRecordAssembly.isSenderCopy(value) {
                // The list is the sentbox entry's data and the source of paths; each recipient's own record is checked
                // (and its mailbox) when it comes, so the listed keys' point checks are left out.
                let copy = try BatchSenderCopy.verify(
                    value,
                    limits: batchLimits,
                    using: signatureVerifier,
                    verifiedRoots: verifiedBatches,
                    listedKeysVouchedFor: true
                )
                (verdict, header, id, recipient, expectedKey) = (
                    .acceptedSenderCopy(copy), copy.header, copy.header.batchID, nil, copy.header.sender.bytes
                )
            } else {
                // The recipient must have a mailbox (checked before anything is stored), and a mailbox is made only
                // for a validated key: the point check, a scalar multiplication for every new recipient, is left out.
                let member = try BatchRecipientEnvelope.verify(
                    value,
                    limits: batchLimits,
                    using: signatureVerifier,
                    verifiedRoots: verifiedBatches,
                    recipientKeyVouchedFor: true
                )
                (verdict, header, id, recipient, expectedKey) = (
                    .acceptedBatchMember(member), member.header, member.messageID, member.recipient,
                    member.recipient.bytes
                )
            }
        } catch {
            return refused(error.reason, error.detail)
        }
        if key != expectedKey {
            return refused(
                RejectionReason.keyMismatch,
                recipient == nil
                    ? "a batch's sender copy is keyed by the sender's 32-byte public key"
                    : "the record key must be the recipient's 32-byte public key",
                id: id,
                sender: header.sender,
                recipient: recipient
            )
        }
        if let (reason, detail) = timeRefusal(created: header.createdAtMilliseconds, now: now) {
            return refused(reason, detail, id: id, sender: header.sender, recipient: recipient)
        }
        return verdict
    }

    /// The refusal of a record created more than ``maxClockSkew`` ahead of `now` (`created_in_future`) or more than
    /// ``maxEnvelopeAge`` before it (`envelope_too_old`), if either.
    func timeRefusal(created: Int64, now: Date) -> (reason: String, detail: String)? {
        let skewMilliseconds = maxClockSkew.components.seconds * 1000
        let nowMilliseconds = Int64(now.timeIntervalSince1970 * 1000)
        if created > nowMilliseconds + skewMilliseconds {
            return (RejectionReason.createdInFuture, "created \(created - nowMilliseconds) ms in the future")
        }
        let ageMilliseconds = maxEnvelopeAge.nanoseconds / 1_000_000
        if created < nowMilliseconds - ageMilliseconds {
            return (
                RejectionReason.envelopeTooOld,
                "created \((nowMilliseconds - created) / 1000) s ago; the most is \(ageMilliseconds / 1000) s"
            )
        }
        return nil
    }

    /// A rejection for an envelope that parsed (so its id and parties are known).
    func rejection(_ envelope: Envelope, source: RecordSource, bytes: Int, reason: String, detail: String) -> Rejection
    {
        Rejection(
            source: source,
            reason: reason,
            detail: detail,
            messageID: envelope.id.uuid,
            sender: envelope.sender.bytes,
            recipient: envelope.recipient.bytes,
            envelopeBytes: bytes,
            worker: workerName
        )
    }
}

extension MessageID {
    /// The ULID's 16 bytes as a UUID, as the database stores ids (uuid order is ULID order).
    public var uuid: UUID {
        let b = bytes
        return UUID(
            uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
        )
    }
}

extension NewMessage {
    /// The row of a verified batch recipient's record (format v2).
    public init(_ member: BatchRecipientEnvelope, source: RecordSource) {
        self.init(
            id: member.messageID.uuid,
            sender: member.header.sender.bytes,
            recipient: member.recipient.bytes,
            createdAt: member.header.createdAt,
            item: member.item,
            batch: BatchMembership(
                batchID: member.header.batchID.uuid,
                head: member.head,
                payload: member.header.kind == .shared ? member.payload : nil,
                index: Int32(member.index),
                path: member.pathBytes
            ),
            source: source
        )
    }

    /// The rows of a verified envelope.
    public init(_ envelope: Envelope, source: RecordSource) {
        self.init(
            id: envelope.id.uuid,
            sender: envelope.sender.bytes,
            recipient: envelope.recipient.bytes,
            createdAt: envelope.createdAt,
            inboxBody: envelope.recipientCiphertext,
            sentboxBodyHash: envelope.senderCiphertextHash,
            sentboxBody: envelope.senderCiphertext,
            inboxBodyHash: envelope.recipientCiphertextHash,
            signature: envelope.signature,
            source: source
        )
    }
}

extension NewSenderCopy {
    /// The sentbox entry of a verified batch's sender copy (format v2).
    public init(_ copy: BatchSenderCopy, source: RecordSource) {
        self.init(
            sender: copy.header.sender.bytes,
            batchID: copy.header.batchID.uuid,
            head: copy.head,
            createdAt: copy.header.createdAt,
            body: copy.senderCiphertext,
            recipients: copy.recipientListBytes,
            source: source
        )
    }
}
