import MailroomCore

/// A value ready for the envelope topic: sealed here or checked by ``MailroomProducer/submit(_:)``.
struct ProducerRecord: Sendable {
    /// What the caller gets back: the message id, or a batch's id for a sender's copy.
    var id: MessageID
    /// The Kafka record key: the recipient's raw 32-byte key, or the sender's for a batch's sender copy.
    var key: [UInt8]
    var value: [UInt8]

    init(_ envelope: Envelope) {
        id = envelope.id
        key = envelope.recipient.bytes
        value = envelope.serialized()
    }

    init(_ envelope: BatchRecipientEnvelope) {
        id = envelope.messageID
        key = envelope.kafkaKey
        value = envelope.serialized()
    }

    init(_ copy: BatchSenderCopy) {
        id = copy.header.batchID
        key = copy.header.sender.bytes
        value = copy.serialized()
    }
}
