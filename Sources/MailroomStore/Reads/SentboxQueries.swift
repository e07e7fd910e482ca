public import MailroomCore
public import MailroomPostgres

/// SQL for the sentbox: keyset pages and deletes, every statement scoped to the owner (the sender).
public enum SentboxQueries {
    /// One page of the owner's sentbox (a range scan of the primary key `(owner, id)`).
    public static func page(
        owner: [UInt8],
        _ page: PageRequest,
        on connection: PostgresConnection
    ) async throws
        -> [SentboxRow]
    {
        let limit = Int64(page.limit)
        let query: PostgresQuery =
            switch (page.ascending, page.seek) {
            case (false, .none):
                "SELECT id, recipient, created_at, body, inbox_body_hash, signature FROM sentbox_messages WHERE owner = \(owner) ORDER BY id DESC LIMIT \(limit)"
            case (false, let seek?):
                "SELECT id, recipient, created_at, body, inbox_body_hash, signature FROM sentbox_messages WHERE owner = \(owner) AND id < \(seek) ORDER BY id DESC LIMIT \(limit)"
            case (true, .none):
                "SELECT id, recipient, created_at, body, inbox_body_hash, signature FROM sentbox_messages WHERE owner = \(owner) ORDER BY id ASC LIMIT \(limit)"
            case (true, let seek?):
                "SELECT id, recipient, created_at, body, inbox_body_hash, signature FROM sentbox_messages WHERE owner = \(owner) AND id > \(seek) ORDER BY id ASC LIMIT \(limit)"
            }
        let rows = try await connection.query(query)
        var result: [SentboxRow] = []
        result.reserveCapacity(rows.count)
        for row in rows { result.append(try SentboxRow(row)) }
        return result
    }

    /// Deletes the owner's sentbox message (recording a `deleted` event and notifying watchers in the same statement).
    /// - Returns: whether there was such a message.
    public static func delete(owner: [UInt8], id: MessageID, on connection: PostgresConnection) async throws -> Bool {
        try await MessageDeletion.delete(box: .sentbox, owner: owner, id: id, on: connection)
    }
}
