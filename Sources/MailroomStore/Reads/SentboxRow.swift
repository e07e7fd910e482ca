public import Foundation
public import MailroomCore
internal import MailroomPostgres

/// A sentbox row as stored: the sender's own copy with what it takes to verify it alone.
public struct SentboxRow: Sendable, Hashable {
    public var id: MessageID
    /// The recipient's 32-byte public key.
    public var recipient: [UInt8]
    public var createdAt: Date
    /// The body sealed to the owner (the sender).
    public var body: [UInt8]
    /// BLAKE2b-256 of the recipient's copy.
    public var inboxBodyHash: [UInt8]
    public var signature: [UInt8]
    /// A batch's sentbox entry (envelope format v2): the sender copy's value (head, the body sealed to the sender
    /// and the recipient list), rebuilt from `message_batches`. ``recipient``, ``body``, ``inboxBodyHash`` and
    /// ``signature`` are then empty. Nil for a single message's copy.
    public var batchValue: [UInt8]?

    public init(
        id: MessageID,
        recipient: [UInt8],
        createdAt: Date,
        body: [UInt8],
        inboxBodyHash: [UInt8],
        signature: [UInt8]
    ) {
        self.id = id
        self.recipient = recipient
        self.createdAt = createdAt
        self.body = body
        self.inboxBodyHash = inboxBodyHash
        self.signature = signature
    }

    /// Decodes `id, recipient, created_at, body, inbox_body_hash, signature`.
    init(_ row: PostgresRow) throws(PostgresError) {
        // Column by column with concrete types, so that each decode is specialised.
        self.init(
            id: try row.decode(MessageID.self, column: 0),
            recipient: try row.decode([UInt8].self, column: 1),
            createdAt: try row.decode(Date.self, column: 2),
            body: try row.decode([UInt8].self, column: 3),
            inboxBodyHash: try row.decode([UInt8].self, column: 4),
            signature: try row.decode([UInt8].self, column: 5)
        )
    }
}
