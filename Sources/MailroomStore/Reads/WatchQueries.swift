public import MailroomCore
public import MailroomPostgres

/// SQL for watchers: what changed in some owners' boxes since each owner's frontier.
///
/// A frontier is a transaction id: the oldest transaction still running when the watcher last looked
/// (`pg_snapshot_xmin` of that statement's snapshot). Every transaction below it had ended, so its rows were
/// visible then; rows stored since, or by transactions that were still running, have `stored_xid` at or above
/// it. Reading `stored_xid >= frontier` therefore never misses a committed row, whatever its (sender-clock)
/// message id, and may return rows reported before, which the caller drops. The same holds for read and delete
/// events in `mailbox_events`.
///
/// Created rows are read from the owner's key index of `messages` (`(recipient, id)` or `(sender, id)`, both
/// carrying `stored_xid`), not through the box's view: an index-only scan of the owner's range; a batch's sentbox
/// entry from `message_batches`' `(sender, sender_copy_xid)` index. A copy deleted
/// since it was stored is still reported as created; its `deleted` event follows.
public enum WatchQueries {
    /// What a catch-up found.
    public struct Change: Sendable, Hashable {
        public enum Kind: Int16, Sendable {
            case created = 0
            case read = 1
            case deleted = 2
        }
        public var kind: Kind
        public var owner: [UInt8]
        public var id: MessageID
        /// The storing (or event) transaction; rows below the next frontier cannot come back.
        public var xid: Int64
        /// For read and delete events, the event's sequence number; 0 for created rows.
        public var sequence: Int64
    }

    /// The changes in `box` for each owner since its frontier (`nil`: since now, i.e. only what is still in
    /// flight), the new frontier to use next time for all of them, and the notification tokens
    /// (``MailboxNotification/ownerTokens``) of `tokensFor` (the owners a watcher starts on), in the same round trip.
    public static func changes(
        box: MailboxNotification.Box,
        owners: [[UInt8]],
        frontiers: [Int64?],
        tokensFor: [[UInt8]] = [],
        on connection: PostgresConnection
    ) async throws -> (changes: [Change], frontier: Int64, tokens: [[UInt8]: UInt64]) {
        let query: PostgresQuery = """
            WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin),
            w AS (
                SELECT o.owner, coalesce(o.frontier, s.xmin) AS frontier
                FROM unnest(\(PostgresArray(owners)), \(PostgresArray(frontiers))) AS o(owner, frontier), s
            )
            \(sql: box.createdRows)
            UNION ALL
            SELECT CASE e.event WHEN 'read' THEN 1 ELSE 2 END::int2, e.owner, e.id, e.xid, e.seq FROM w
                JOIN mailbox_events e ON e.owner = w.owner AND e.box = \(box.rawValue) AND e.xid >= w.frontier
            UNION ALL
            SELECT -1::int2, NULL, NULL, xmin, 0 FROM s
            UNION ALL
            SELECT -2::int2, t.owner, NULL, t.token, 0 FROM mailroom_owner_tokens(\(PostgresArray(tokensFor))) t
            """
        var changes: [Change] = []
        var frontier: Int64 = 0
        var tokens: [[UInt8]: UInt64] = [:]
        for row in try await connection.query(query) {
            let kind = try row.decode(Int16.self, column: 0)
            let xid = try row.decode(Int64.self, column: 3)
            guard let known = Change.Kind(rawValue: kind) else {
                if kind == -2 {
                    tokens[try row.decode([UInt8].self, column: 1)] = UInt64(bitPattern: xid)
                } else {
                    frontier = xid
                }
                continue
            }
            changes.append(
                Change(
                    kind: known,
                    owner: try row.decode([UInt8].self, column: 1),
                    id: try row.decode(MessageID.self, column: 2),
                    xid: xid,
                    sequence: try row.decode(Int64.self, column: 4)
                )
            )
        }
        return (changes, frontier, tokens)
    }

    /// Deletes read and delete events older than `seconds`; returns how many.
    public static func pruneEvents(
        olderThanSeconds seconds: Double,
        on connection: PostgresConnection
    ) async throws
        -> Int
    {
        let result = try await connection.query(
            "DELETE FROM mailbox_events WHERE at < now() - make_interval(secs => \(seconds))"
        )
        return result.affectedRows
    }
}

extension MailboxNotification.Box {
    /// The catch-up's created rows of this box: for the inbox, the owner's range of the primary key; for the
    /// sentbox, the owner's single messages (the sender index covers those only) and the sentbox entries of the
    /// owner's batches (envelope format v2).
    fileprivate var createdRows: StaticString {
        switch self {
        case .inbox:
            """
            SELECT 0::int2, w.owner, m.id, m.stored_xid, 0::int8 FROM w
                JOIN messages m ON m.recipient = w.owner AND m.stored_xid >= w.frontier
            """
        case .sentbox:
            """
            SELECT 0::int2, w.owner, m.id, m.stored_xid, 0::int8 FROM w
                JOIN messages m ON m.sender = w.owner AND m.batch_id IS NULL AND m.stored_xid >= w.frontier
            UNION ALL
            SELECT 0::int2, w.owner, b.batch_id, b.sender_copy_xid, 0::int8 FROM w
                JOIN message_batches b ON b.sender = w.owner AND b.sender_copy_xid >= w.frontier
            """
        }
    }
}
