public import Foundation
public import MailroomCore
internal import MailroomPostgres

/// An inbox row as stored: what its owner needs to list it, verify it and open it.
public struct InboxRow: Sendable, Hashable {
    public var id: MessageID
    /// The sender's 32-byte public key.
    public var sender: [UInt8]
    public var createdAt: Date
    /// The body sealed to the owner.
    public var body: [UInt8]
    /// BLAKE2b-256 of the sender's copy.
    public var sentboxBodyHash: [UInt8]
    public var signature: [UInt8]
    public var readAt: Date?

    public init(
        id: MessageID,
        sender: [UInt8],
        createdAt: Date,
        body: [UInt8],
        sentboxBodyHash: [UInt8],
        signature: [UInt8],
        readAt: Date?
    ) {
        self.id = id
        self.sender = sender
        self.createdAt = createdAt
        self.body = body
        self.sentboxBodyHash = sentboxBodyHash
        self.signature = signature
        self.readAt = readAt
    }

    /// Decodes `id, sender, created_at, body, sentbox_body_hash, signature, read_at`.
    init(_ row: PostgresRow) throws(PostgresError) {
        // Column by column with concrete types, so that each decode is specialised (``PostgresRow/decode(_:column:)``
        // is inlinable).
        self.init(
            id: try row.decode(MessageID.self, column: 0),
            sender: try row.decode([UInt8].self, column: 1),
            createdAt: try row.decode(Date.self, column: 2),
            body: try row.decode([UInt8].self, column: 3),
            sentboxBodyHash: try row.decode([UInt8].self, column: 4),
            signature: try row.decode([UInt8].self, column: 5),
            readAt: try row.decode(Date?.self, column: 6)
        )
    }
}
