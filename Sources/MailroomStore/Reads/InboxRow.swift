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
        id: MessageID, sender: [UInt8], createdAt: Date, body: [UInt8], sentboxBodyHash: [UInt8], signature: [UInt8],
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
        let (id, sender, createdAt, body, hash, signature, readAt) = try row.decode(
            MessageID.self, [UInt8].self, Date.self, [UInt8].self, [UInt8].self, [UInt8].self, Date?.self)
        self.init(
            id: id, sender: sender, createdAt: createdAt, body: body, sentboxBodyHash: hash, signature: signature,
            readAt: readAt)
    }
}
