import MailroomCore
import MailroomPostgres

/// The one delete statement both boxes use: the row, its `deleted` event and the watchers' NOTIFY together.
enum MessageDeletion {
    static func delete(
        box: MailboxNotification.Box,
        owner: [UInt8],
        id: MessageID,
        on connection: PostgresConnection
    ) async throws -> Bool {
        let header = MailboxNotification(box: box, event: .deleted, ownerTokens: []).payload
        let row = try await connection.query(
            """
            WITH deleted_copy AS (
                DELETE FROM \(sql: box.table) WHERE owner = \(owner) AND id = \(id) RETURNING id
            ), deleted_batch AS (
                -- The sentbox's second source: a batch's entry (envelope format v2) under the same owner and id.
                DELETE FROM sentbox_batches WHERE \(box == .sentbox) AND owner = \(owner) AND id = \(id) RETURNING id
            ), deleted AS (
                SELECT id FROM deleted_copy UNION ALL SELECT id FROM deleted_batch
            ), event AS (
                INSERT INTO mailbox_events (box, event, owner, id)
                SELECT \(box.rawValue), 'deleted', \(owner), id FROM deleted
                RETURNING 1
            ), notified AS (
                SELECT pg_notify(\(MailboxNotification.channel), \(header) || lpad(to_hex(t.token), 16, '0'))
                FROM event, mailroom_owner_tokens(ARRAY[\(owner)]) t
            )
            SELECT (SELECT count(*) FROM deleted), (SELECT count(*) FROM notified)
            """
        ).single()
        return try row.decode(Int64.self, column: 0) > 0
    }
}
