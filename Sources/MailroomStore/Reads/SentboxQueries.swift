import Foundation
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
        let batches = try await batchEntries(owner: owner, page, on: connection)
        guard !batches.isEmpty else { return result }
        // Both sources in the page's order, cut at its limit.
        result += batches
        result.sort { page.ascending ? $0.id < $1.id : $0.id > $1.id }
        return Array(result.prefix(page.limit))
    }

    /// One page of the owner's batch entries (envelope format v2: one per batch), by batch id.
    static func batchEntries(
        owner: [UInt8],
        _ page: PageRequest,
        on connection: PostgresConnection
    ) async throws -> [SentboxRow] {
        let limit = Int64(page.limit)
        let query: PostgresQuery =
            switch (page.ascending, page.seek) {
            case (false, .none):
                "SELECT id, created_at, head, body, recipients FROM sentbox_batches WHERE owner = \(owner) ORDER BY id DESC LIMIT \(limit)"
            case (false, let seek?):
                "SELECT id, created_at, head, body, recipients FROM sentbox_batches WHERE owner = \(owner) AND id < \(seek) ORDER BY id DESC LIMIT \(limit)"
            case (true, .none):
                "SELECT id, created_at, head, body, recipients FROM sentbox_batches WHERE owner = \(owner) ORDER BY id ASC LIMIT \(limit)"
            case (true, let seek?):
                "SELECT id, created_at, head, body, recipients FROM sentbox_batches WHERE owner = \(owner) AND id > \(seek) ORDER BY id ASC LIMIT \(limit)"
            }
        var result: [SentboxRow] = []
        for row in try await connection.query(query) {
            var entry = SentboxRow(
                id: try row.decode(MessageID.self, column: 0),
                recipient: [],
                createdAt: try row.decode(Date.self, column: 1),
                body: [],
                inboxBodyHash: [],
                signature: []
            )
            entry.batchValue = BatchRecordAssembly.senderCopyValue(
                head: try row.decode([UInt8].self, column: 2),
                body: try row.decode([UInt8].self, column: 3),
                recipients: try row.decode([UInt8]?.self, column: 4) ?? []
            )
            result.append(entry)
        }
        return result
    }

    /// Deletes the owner's sentbox message (recording a `deleted` event and notifying watchers in the same statement).
    /// - Returns: whether there was such a message.
    public static func delete(owner: [UInt8], id: MessageID, on connection: PostgresConnection) async throws -> Bool {
        try await MessageDeletion.delete(box: .sentbox, owner: owner, id: id, on: connection)
    }
}
