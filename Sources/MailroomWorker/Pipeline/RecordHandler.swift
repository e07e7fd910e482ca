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
        case accepted(Envelope)
        case rejected(Rejection)
    }

    public var limits: EnvelopeLimits
    public var maxClockSkew: Duration
    /// Envelopes created longer ago than this are rejected (`envelope_too_old`).
    public var maxEnvelopeAge: Duration
    public var workerName: String
    /// Checks the envelopes' signatures: the worker's own (``Worker/signatureVerifier``), with its tables.
    public var signatureVerifier: Ed25519Verifier

    public init(
        limits: EnvelopeLimits = EnvelopeLimits(),
        maxClockSkew: Duration = .seconds(300),
        maxEnvelopeAge: Duration = WorkerConfiguration.defaultMaxEnvelopeAge,
        workerName: String,
        signatureVerifier: Ed25519Verifier = .libsodiumOnly
    ) {
        self.limits = limits
        self.maxClockSkew = maxClockSkew
        self.maxEnvelopeAge = maxEnvelopeAge
        self.workerName = workerName
        self.signatureVerifier = signatureVerifier
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
        let skewMilliseconds = maxClockSkew.components.seconds * 1000
        let nowMilliseconds = Int64(now.timeIntervalSince1970 * 1000)
        if envelope.createdAtMilliseconds > nowMilliseconds + skewMilliseconds {
            return .rejected(
                rejection(
                    envelope,
                    source: source,
                    bytes: value.count,
                    reason: RejectionReason.createdInFuture,
                    detail: "created \(envelope.createdAtMilliseconds - nowMilliseconds) ms in the future"
                )
            )
        }
        let ageMilliseconds = maxEnvelopeAge.nanoseconds / 1_000_000
        if envelope.createdAtMilliseconds < nowMilliseconds - ageMilliseconds {
            return .rejected(
                rejection(
                    envelope,
                    source: source,
                    bytes: value.count,
                    reason: RejectionReason.envelopeTooOld,
                    detail:
                        "created \((nowMilliseconds - envelope.createdAtMilliseconds) / 1000) s ago; the most is \(ageMilliseconds / 1000) s"
                )
            )
        }
        return .accepted(envelope)
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
