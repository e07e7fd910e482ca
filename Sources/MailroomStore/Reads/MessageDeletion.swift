import MailroomCore
import MailroomPostgres

/// The one delete statement both boxes use: the row, its `deleted` event and the watchers' NOTIFY together.
enum MessageDeletion {
    static func delete(
        box: MailboxNotification.Box, owner: [UInt8], id: MessageID, on connection: PostgresConnection
    ) async throws -> Bool {
        let payload = MailboxNotification(
            box: box, event: .deleted, ownerPrefixes: [MailboxNotification.prefix(of: owner)], messageID: id.bytes
        ).payload
        let row = try await connection.query(
            """
            WITH deleted AS (
                DELETE FROM \(sql: box.table) WHERE owner = \(owner) AND id = \(id) RETURNING id
            ), event AS (
                INSERT INTO mailbox_events (box, event, owner, id)
                SELECT \(box.rawValue), 'deleted', \(owner), id FROM deleted
                RETURNING 1
            ), notified AS (
                SELECT pg_notify(\(MailboxNotification.channel), \(payload)) FROM event
            )
            SELECT (SELECT count(*) FROM deleted), (SELECT count(*) FROM notified)
            """
        ).single()
        return try row.decode(Int64.self, column: 0) > 0
    }
}
