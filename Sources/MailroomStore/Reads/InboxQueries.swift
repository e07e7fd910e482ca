public import MailroomCore
public import MailroomPostgres

/// SQL for the inbox: keyset pages, read marks, deletes and unread counts, every statement scoped to the owner.
///
/// Reads go through the `inbox_messages` view (the recipient's copies in `messages`, migration 0005). A page is
/// one range scan of the primary key `(recipient, id)`; read and unread pages filter that range. Each
/// combination of order, cursor and status is its own static statement, so that every one is prepared once
/// per connection with a plan that uses the right index.
public enum InboxQueries {
    /// One page of the owner's inbox.
    /// - Parameters:
    ///   - owner: the owner's 32-byte public key.
    ///   - page: cursor (exclusive), size and order; the caller checks ``PageRequest/isValid``.
    ///   - status: all, read or unread messages.
    public static func page(
        owner: [UInt8],
        _ page: PageRequest,
        status: InboxStatus,
        on connection: PostgresConnection
    ) async throws -> [InboxRow] {
        let limit = Int64(page.limit)
        let query: PostgresQuery =
            switch (status, page.ascending, page.seek) {
            case (.all, false, .none):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) ORDER BY id DESC LIMIT \(limit)"
            case (.all, false, let seek?):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND id < \(seek) ORDER BY id DESC LIMIT \(limit)"
            case (.all, true, .none):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) ORDER BY id ASC LIMIT \(limit)"
            case (.all, true, let seek?):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND id > \(seek) ORDER BY id ASC LIMIT \(limit)"
            case (.read, false, .none):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND read_at IS NOT NULL ORDER BY id DESC LIMIT \(limit)"
            case (.read, false, let seek?):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND id < \(seek) AND read_at IS NOT NULL ORDER BY id DESC LIMIT \(limit)"
            case (.read, true, .none):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND read_at IS NOT NULL ORDER BY id ASC LIMIT \(limit)"
            case (.read, true, let seek?):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND id > \(seek) AND read_at IS NOT NULL ORDER BY id ASC LIMIT \(limit)"
            case (.unread, false, .none):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND read_at IS NULL ORDER BY id DESC LIMIT \(limit)"
            case (.unread, false, let seek?):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND id < \(seek) AND read_at IS NULL ORDER BY id DESC LIMIT \(limit)"
            case (.unread, true, .none):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND read_at IS NULL ORDER BY id ASC LIMIT \(limit)"
            case (.unread, true, let seek?):
                "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at, batch_id, batch_index FROM inbox_messages WHERE owner = \(owner) AND id > \(seek) AND read_at IS NULL ORDER BY id ASC LIMIT \(limit)"
            }
        // A page with batch recipients' rows is rebuilt in further statements; one that raced a write or a delete
        // there (BatchReads) is read again, at most twice.
        var attempt = 0
        while true {
            attempt += 1
            let rows = try await connection.query(query)
            var result: [InboxRow] = []
            result.reserveCapacity(rows.count)
            for row in rows { result.append(try InboxRow(row)) }
            guard result.contains(where: { $0.batchPlace != nil }) else { return result }
            try await BatchReads.rebuild(&result, owner: owner, on: connection)
            if attempt >= 3 || result.allSatisfy({ $0.batchPlace == nil || $0.batchValue != nil }) { return result }
        }
    }

    /// Marks the message read the first time (and then records a `read` event and notifies watchers, in the
    /// same statement); returns the row with its `read_at`, or `nil` if the owner has no such message.
    public static func read(owner: [UInt8], id: MessageID, on connection: PostgresConnection) async throws -> InboxRow?
    {
        let rows = try await connection.query(
            """
            WITH marked AS (
                UPDATE inbox_messages SET read_at = now()
                WHERE owner = \(owner) AND id = \(id) AND read_at IS NULL
                RETURNING id
            ), event AS (
                INSERT INTO mailbox_events (box, event, owner, id) SELECT 'inbox', 'read', \(owner), id FROM marked
                RETURNING 1
            ), notified AS (
                SELECT pg_notify(\(MailboxNotification.channel), 'inbox:read:' || lpad(to_hex(t.token), 16, '0'))
                FROM event, mailroom_owner_tokens(ARRAY[\(owner)]) t
            )
            SELECT id, sender, created_at, body, sentbox_body_hash, signature,
                   coalesce(read_at, (SELECT now() FROM marked)), batch_id, batch_index,
                   (SELECT count(*) FROM notified)
            FROM inbox_messages WHERE owner = \(owner) AND id = \(id)
            """
        )
        guard let first = rows.first else { return nil }
        var result = [try InboxRow(first)]
        for _ in 0..<3 where result[0].batchPlace != nil && result[0].batchValue == nil {
            try await BatchReads.rebuild(&result, owner: owner, on: connection)
        }
        return result[0]
    }

    /// Deletes the owner's message (recording a `deleted` event and notifying watchers in the same statement).
    /// - Returns: whether there was such a message.
    public static func delete(owner: [UInt8], id: MessageID, on connection: PostgresConnection) async throws -> Bool {
        try await MessageDeletion.delete(box: .inbox, owner: owner, id: id, on: connection)
    }

    /// How many of the owner's messages were never read: the mailbox's counter in `mailbox_usage`, which every
    /// insert, read mark and delete keeps exact in its own transaction (one primary-key lookup, whatever the
    /// inbox's size).
    public static func unreadCount(owner: [UInt8], on connection: PostgresConnection) async throws -> Int {
        let row = try await connection.query(
            "SELECT coalesce((SELECT unread FROM mailbox_usage WHERE owner = \(owner)), 0)"
        ).single()
        return Int(try row.decode(Int64.self, column: 0))
    }
}
