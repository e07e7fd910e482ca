public import Foundation
public import MailroomPostgres

/// SQL for the mailboxes table.
public enum MailboxQueries {
    /// Creates the mailbox if it does not exist; returns when it was created (the first time).
    public static func setup(owner: [UInt8], on connection: PostgresConnection) async throws -> Date {
        let row = try await connection.query(
            """
            WITH inserted AS (
                INSERT INTO mailboxes (owner) VALUES (\(owner)) ON CONFLICT (owner) DO NOTHING RETURNING created_at
            )
            SELECT created_at FROM inserted
            UNION ALL
            SELECT created_at FROM mailboxes WHERE owner = \(owner)
            LIMIT 1
            """
        ).single()
        return try row.decode(Date.self, column: 0)
    }

    /// When the mailbox was created, or `nil` if there is none.
    public static func createdAt(owner: [UInt8], on connection: PostgresConnection) async throws -> Date? {
        let rows = try await connection.query("SELECT created_at FROM mailboxes WHERE owner = \(owner)")
        return try rows.first?.decode(Date.self, column: 0)
    }
}
