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
    /// A batch recipient's message (format v2): its record value, rebuilt from the row and its batch (``body``
    /// is then the recipient's item; ``sentboxBodyHash`` and ``signature`` are empty). Nil for a single message.
    public var batchValue: [UInt8]?
    /// Whether the row is a batch recipient's (then ``batchValue`` is nil only when its batch is missing).
    public var isBatchMember: Bool { batchPlace != nil }
    /// Where a batch recipient's row sits in its batch, until its value is rebuilt.
    var batchPlace: BatchPlace?

    struct BatchPlace: Sendable, Hashable {
        var batchID: UUID
        var index: Int32
    }

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

    /// Decodes `id, sender, created_at, body, sentbox_body_hash, signature, read_at`, and `batch_id, batch_index`
    /// from column `batchColumn`.
    init(_ row: PostgresRow, batchColumn: Int = 7) throws(PostgresError) {
        // Column by column with concrete types, so that each decode is specialised (``PostgresRow/decode(_:column:)``
        // is inlinable).
        self.init(
            id: try row.decode(MessageID.self, column: 0),
            sender: try row.decode([UInt8].self, column: 1),
            createdAt: try row.decode(Date.self, column: 2),
            body: try row.decode([UInt8].self, column: 3),
            sentboxBodyHash: try row.decode([UInt8]?.self, column: 4) ?? [],
            signature: try row.decode([UInt8]?.self, column: 5) ?? [],
            readAt: try row.decode(Date?.self, column: 6)
        )
        if let batchID = try row.decode(UUID?.self, column: batchColumn) {
            batchPlace = BatchPlace(batchID: batchID, index: try row.decode(Int32?.self, column: batchColumn + 1) ?? 0)
        }
    }
}
