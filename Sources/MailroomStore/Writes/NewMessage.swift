public import Foundation

/// Where a Kafka record came from: enough to find it again, and the key of its rejection row.
public struct RecordSource: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// The partition and offset only: hashing the topic's characters cost more than the rest of a lookup, and a
    /// worker's records share one topic (equality still compares it).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(partition)
        hasher.combine(offset)
    }
}

/// A verified message, ready to be written as an inbox row (the recipient's) and a sentbox row (the sender's).
public struct NewMessage: Sendable {
    /// The 16-byte ULID.
    public var id: UUID
    public var sender: [UInt8]
    public var recipient: [UInt8]
    public var createdAt: Date
    /// The body sealed to the recipient, and the hash of the sender's copy (the inbox row's proof).
    public var inboxBody: [UInt8]
    public var sentboxBodyHash: [UInt8]
    /// The body sealed to the sender, and the hash of the recipient's copy (the sentbox row's proof).
    public var sentboxBody: [UInt8]
    public var inboxBodyHash: [UInt8]
    public var signature: [UInt8]
    public var source: RecordSource
    /// A recipient's message of a batch envelope (format v2): the batch it belongs to. Such a message has no
    /// sentbox copy, no hashes and no signature of its own (``sentboxBody``, ``sentboxBodyHash``,
    /// ``inboxBodyHash`` and ``signature`` are empty and stored as NULL); ``inboxBody`` is its item.
    public var batch: BatchMembership?

    public init(
        id: UUID,
        sender: [UInt8],
        recipient: [UInt8],
        createdAt: Date,
        inboxBody: [UInt8],
        sentboxBodyHash: [UInt8],
        sentboxBody: [UInt8],
        inboxBodyHash: [UInt8],
        signature: [UInt8],
        source: RecordSource,
        batch: BatchMembership? = nil
    ) {
        self.id = id
        self.sender = sender
        self.recipient = recipient
        self.createdAt = createdAt
        self.inboxBody = inboxBody
        self.sentboxBodyHash = sentboxBodyHash
        self.sentboxBody = sentboxBody
        self.inboxBodyHash = inboxBodyHash
        self.signature = signature
        self.source = source
        self.batch = batch
    }

    /// A recipient's message of a verified batch envelope (format v2).
    /// - Parameters:
    ///   - item: the recipient's item (its wrapped content key, or its sealed body).
    public init(
        id: UUID,
        sender: [UInt8],
        recipient: [UInt8],
        createdAt: Date,
        item: [UInt8],
        batch: BatchMembership,
        source: RecordSource
    ) {
        self.init(
            id: id,
            sender: sender,
            recipient: recipient,
            createdAt: createdAt,
            inboxBody: item,
            sentboxBodyHash: [],
            sentboxBody: [],
            inboxBodyHash: [],
            signature: [],
            source: source,
            batch: batch
        )
    }
}

/// What a recipient's message of a batch envelope (format v2) shares with its batch, and where it sits in it.
public struct BatchMembership: Sendable {
    /// The batch id (with the sender, the batch's key).
    public var batchID: UUID
    /// The batch's head: header, Merkle root and signature (254 bytes).
    public var head: [UInt8]
    /// The shared payload (a shared batch), or nil (personalised).
    public var payload: [UInt8]?
    /// The recipient's leaf index.
    public var index: Int32
    /// The Merkle path from the leaf to the root (sibling hashes, concatenated). Stored only while the batch's
    /// recipient list is not (the list rebuilds every path).
    public var path: [UInt8]

    public init(batchID: UUID, head: [UInt8], payload: [UInt8]?, index: Int32, path: [UInt8]) {
        self.batchID = batchID
        self.head = head
        self.payload = payload
        self.index = index
        self.path = path
    }
}

/// The sender's copy of a verified batch envelope (format v2): the batch's sentbox entry.
public struct NewSenderCopy: Sendable {
    public var sender: [UInt8]
    public var batchID: UUID
    /// The batch's head: header, Merkle root and signature (254 bytes).
    public var head: [UInt8]
    public var createdAt: Date
    /// The body sealed to the sender.
    public var body: [UInt8]
    /// The recipient list (80 bytes per recipient: key, message id, item hash).
    public var recipients: [UInt8]
    public var source: RecordSource

    public init(
        sender: [UInt8],
        batchID: UUID,
        head: [UInt8],
        createdAt: Date,
        body: [UInt8],
        recipients: [UInt8],
        source: RecordSource
    ) {
        self.sender = sender
        self.batchID = batchID
        self.head = head
        self.createdAt = createdAt
        self.body = body
        self.recipients = recipients
        self.source = source
    }
}

/// A record the worker refused, as the rejected-envelopes table keeps it: metadata and reason, never a body.
public struct Rejection: Sendable, Hashable {
    public var source: RecordSource
    /// A stable reason code (docs/ENVELOPE.md).
    public var reason: String
    /// A human-readable explanation, free of bodies and secrets.
    public var detail: String?
    public var messageID: UUID?
    public var sender: [UInt8]?
    public var recipient: [UInt8]?
    public var envelopeBytes: Int
    public var worker: String

    public init(
        source: RecordSource,
        reason: String,
        detail: String? = nil,
        messageID: UUID? = nil,
        sender: [UInt8]? = nil,
        recipient: [UInt8]? = nil,
        envelopeBytes: Int,
        worker: String
    ) {
        self.source = source
        self.reason = reason
        self.detail = detail
        self.messageID = messageID
        self.sender = sender
        self.recipient = recipient
        self.envelopeBytes = envelopeBytes
        self.worker = worker
    }

    /// The rejection of a verified message (its id and parties; no body).
    public init(refusing message: NewMessage, reason: String, detail: String, envelopeBytes: Int = 0, worker: String) {
        self.init(
            source: message.source,
            reason: reason,
            detail: detail,
            messageID: message.id,
            sender: message.sender,
            recipient: message.recipient,
            envelopeBytes: envelopeBytes,
            worker: worker
        )
    }
}
