public import Foundation
public import MailroomPostgres

/// SQL for recipients' block lists (`mailbox_blocks`, migration 0008).
public enum BlockQueries {
    /// Adds `sender` to `owner`'s block list; returns whether it was not there yet. The owner must have a
    /// mailbox (a foreign-key violation, 23503, otherwise).
    public static func block(owner: [UInt8], sender: [UInt8], on connection: PostgresConnection) async throws -> Bool {
        try await connection.query(
            "INSERT INTO mailbox_blocks (owner, blocked) VALUES (\(owner), \(sender)) ON CONFLICT DO NOTHING"
        ).affectedRows > 0
    }

    /// Removes `sender` from `owner`'s block list; returns whether it was there.
    public static func unblock(owner: [UInt8], sender: [UInt8], on connection: PostgresConnection) async throws -> Bool
    {
        try await connection.query(
            "DELETE FROM mailbox_blocks WHERE owner = \(owner) AND blocked = \(sender)"
        ).affectedRows > 0
    }

    /// `owner`'s block list, oldest first.
    public static func blocks(
        owner: [UInt8],
        on connection: PostgresConnection
    ) async throws
        -> [(sender: [UInt8], since: Date)]
    {
        try await connection.query(
            "SELECT blocked, created_at FROM mailbox_blocks WHERE owner = \(owner) ORDER BY created_at, blocked"
        ).map { (try $0.decode([UInt8].self, column: 0), try $0.decode(Date.self, column: 1)) }
    }

    /// The (recipient, sender) pairs among `recipients`' block lists: what the worker refuses.
    public static func blockedPairs(
        recipients: [[UInt8]],
        on connection: PostgresConnection
    ) async throws
        -> Set<[UInt8]>
    {
        guard !recipients.isEmpty else { return [] }
        let rows = try await connection.query(
            "SELECT owner || blocked FROM mailbox_blocks WHERE owner = ANY(\(PostgresArray(recipients)))"
        )
        return Set(try rows.map { try $0.decode([UInt8].self, column: 0) })
    }
}
