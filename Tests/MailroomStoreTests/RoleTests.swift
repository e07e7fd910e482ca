import Foundation
import MailroomCore
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import Testing

/// The roles of migration 0002, each proven against the real server with `SET ROLE` (the test connection is a
/// superuser, as on the dev stack). Roles are cluster-wide; the migration creates them only when missing, so
/// the parallel tests' databases share them.
@Suite("Least-privilege roles", .enabled(if: TestEnvironment.hasDatabase))
struct RoleTests {
    typealias W = MessageWriterTests

    static let views = [
        "messages_stored_per_minute", "latency_per_minute", "rejections_per_minute", "mailbox_counts",
        "unread_distribution", "worker_progress",
    ]

    /// Runs `statement` as `role` and returns whether PostgreSQL refused it for lack of privilege (42501).
    static func denied(
        _ role: String,
        _ statement: PostgresQuery,
        on connection: PostgresConnection
    ) async throws
        -> Bool
    {
        try await connection.query("SET ROLE \(identifier: role)")
        var sqlState: String?
        do {
            try await connection.query(statement)
        } catch {
            sqlState = error.sqlState ?? "none"
        }
        try await connection.query("RESET ROLE")
        if let sqlState, sqlState != "42501" {
            throw TestSupportError("\(statement) failed with SQLSTATE \(sqlState), not 42501")
        }
        return sqlState == "42501"
    }

    /// Runs `body` as `role`, resetting the role afterwards.
    static func asRole<T: Sendable>(
        _ role: String,
        on connection: PostgresConnection,
        _ body: () async throws -> T
    ) async throws -> T {
        try await connection.query("SET ROLE \(identifier: role)")
        do {
            let value = try await body()
            try await connection.query("RESET ROLE")
            return value
        } catch {
            try await connection.query("RESET ROLE")
            throw error
        }
    }

    static func seed(_ connection: PostgresConnection) async throws -> [NewMessage] {
        try await connection.query("INSERT INTO mailboxes (owner) VALUES (\(W.key(1))), (\(W.key(2)))")
        let messages = (0..<3).map { W.message(from: 1, to: 2, offset: Int64($0)) }
        _ = try await MessageWriter().write(messages, rejections: [], worker: "w", on: connection)
        return messages
    }

    @Test func dashboardReadsTheViewsAndNothingElse() async throws {
        try await W.migrated { connection in
            _ = try await Self.seed(connection)
            let role = "mailroom_dashboard"
            for view in Self.views {
                let rows = try await Self.asRole(role, on: connection) {
                    try await connection.query("SELECT * FROM \(identifier: "mailroom_ops").\(identifier: view)")
                }
                #expect(rows.columnNames.count > 1, "\(view)")
            }
            for table in [
                "messages", "inbox_messages", "sentbox_messages", "rejected_envelopes", "mailboxes", "mailbox_usage",
                "stats_stored_per_minute", "stats_latency_per_minute", "worker_progress", "schema_migrations",
                "mailbox_blocks", "notification_secret",
            ] {
                #expect(try await Self.denied(role, "SELECT * FROM \(identifier: table)", on: connection), "\(table)")
            }
            #expect(try await Self.denied(role, "SELECT body, signature FROM inbox_messages", on: connection))
            #expect(
                try await Self.denied(
                    role,
                    "INSERT INTO inbox_messages (owner, id, sender, created_at, body, sentbox_body_hash, signature) VALUES (\(W.key(2)), gen_random_uuid(), \(W.key(1)), now(), '\\x00', '\\x00', \([UInt8](repeating: 0, count: 64)))",
                    on: connection
                )
            )
            #expect(try await Self.denied(role, "INSERT INTO mailboxes (owner) VALUES (\(W.key(9)))", on: connection))
            #expect(try await Self.denied(role, "DELETE FROM mailroom_ops.worker_progress", on: connection))
            #expect(try await Self.denied(role, "CREATE TABLE mailroom_ops.scratch (x int)", on: connection))
            // Aggregates only: no per-owner list, no notification secret or tokens, no pg_notify().
            for statement: PostgresQuery in [
                "SELECT * FROM top_unread_mailboxes", "SELECT * FROM notification_secret",
                "SELECT * FROM mailroom_owner_tokens(ARRAY[\(W.key(2))])",
                "SELECT pg_notify('mailroom_mailboxes', 'inbox:created:0000000000000001')",
            ] {
                #expect(try await Self.denied(role, statement, on: connection), "\(statement)")
            }
            #expect(
                try await Self.asRole(role, on: connection) {
                    try await connection.query(
                        "SELECT count(*) FROM information_schema.views WHERE table_schema = 'mailroom_ops' AND table_name = 'top_unread_mailboxes'"
                    )
                    .single().decode(Int64.self, column: 0)
                } == 0
            )
        }
    }

    /// Owner tokens (migration 0007): the worker and the query role compute them, nobody reads the secret, and
    /// they do not reveal the key.
    @Test func onlyTheWorkerAndTheQueryRoleMakeOwnerTokens() async throws {
        try await W.migrated { connection in
            var tokens: [Int64] = []
            for role in ["mailroom_worker", "mailroom_query"] {
                let token = try await Self.asRole(role, on: connection) {
                    try await connection.query("SELECT token FROM mailroom_owner_tokens(ARRAY[\(W.key(2))])")
                        .single().decode(Int64.self, column: 0)
                }
                tokens.append(token)
                #expect(try await Self.denied(role, "SELECT * FROM notification_secret", on: connection), "\(role)")
            }
            #expect(tokens[0] == tokens[1])
            let prefix = W.key(2).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            #expect(UInt64(bitPattern: tokens[0]) != prefix)
            // Another database's secret differs: a token means nothing outside its database.
            let other = try await connection.query(
                "SELECT ('x' || encode(substring(sha256(decode(repeat('00', 32), 'hex') || \(W.key(2))) FROM 1 FOR 8), 'hex'))::bit(64)::bigint"
            ).single().decode(Int64.self, column: 0)
            #expect(other != tokens[0])
        }
    }

    @Test func workerInsertsMessagesAndRejectionsAndReadsMailboxesOnly() async throws {
        try await W.migrated { connection in
            let stored = try await Self.seed(connection)
            let role = "mailroom_worker"
            // Everything the worker's write path does works as the worker's role, quota and progress included.
            let writer = MessageWriter(mailboxQuota: 100)
            let outcome = try await Self.asRole(role, on: connection) {
                let found = try await MessageWriter.existingMailboxes([W.key(1), W.key(2), W.key(3)], on: connection)
                #expect(found == [W.key(1), W.key(2)])
                var clash = W.message(from: 1, to: 2, offset: 10, signatureSeed: 7)
                clash.id = stored[0].id
                let messages = [W.message(from: 2, to: 1, offset: 11), clash] + stored
                let rejection = Rejection(
                    source: RecordSource(topic: "envelopes", partition: 0, offset: 12),
                    reason: "bad_signature",
                    envelopeBytes: 1,
                    worker: "w"
                )
                return try await writer.write(
                    messages,
                    rejections: [rejection],
                    worker: "w",
                    progress: [
                        .init(consumerGroup: "g", topic: "envelopes", partition: 0, nextOffset: 13, highWatermark: 13)
                    ],
                    on: connection
                )
            }
            #expect(outcome.stored == 1)
            #expect(outcome.redelivered == 3)
            #expect(outcome.conflicts.map(\.reason) == [MessageWriter.duplicateMessageIDReason])
            // The sender cap too (1 message of 100 per sender): counted through mailroom_inbox_held(), since the
            // role may not read bodies, on the fast path and on the careful path (a redelivery in the batch).
            let capped = MessageWriter(mailboxQuota: 100, senderSharePercent: 1)
            let refused = try await Self.asRole(role, on: connection) {
                let fast = try await capped.write(
                    [W.message(from: 1, to: 2, offset: 20)],
                    rejections: [],
                    worker: "w",
                    on: connection
                )
                let careful = try await capped.write(
                    [W.message(from: 1, to: 2, offset: 21), stored[0]],
                    rejections: [],
                    worker: "w",
                    on: connection
                )
                return fast.conflicts + careful.conflicts
            }
            #expect(
                refused.map(\.reason) == [MessageWriter.senderShareFullReason, MessageWriter.senderShareFullReason]
            )

            for statement: PostgresQuery in [
                "SELECT body FROM inbox_messages", "SELECT body FROM sentbox_messages",
                "SELECT * FROM rejected_envelopes", "SELECT inbox_body FROM messages",
                "SELECT sentbox_body FROM messages",
                "UPDATE inbox_messages SET read_at = now()", "UPDATE messages SET read_at = now()",
                "DELETE FROM messages",
                "DELETE FROM inbox_messages", "DELETE FROM sentbox_messages", "DELETE FROM rejected_envelopes",
                "INSERT INTO mailboxes (owner) VALUES (\(W.key(9)))", "SELECT * FROM mailroom_ops.mailbox_counts",
                "UPDATE mailbox_usage SET max_messages = 1", "CREATE TABLE scratch (x int)",
            ] {
                #expect(try await Self.denied(role, statement, on: connection), "\(statement)")
            }
            #expect(try await Self.notOwner(role, "ALTER TABLE messages ADD COLUMN extra int", on: connection))
            #expect(try await Self.notOwner(role, "DROP TABLE rejected_envelopes", on: connection))
        }
    }

    @Test func queryRoleReadsMarksDeletesAndSetsUpMailboxes() async throws {
        try await W.migrated { connection in
            let stored = try await Self.seed(connection)
            let role = "mailroom_query"
            try await Self.asRole(role, on: connection) {
                try await connection.query("INSERT INTO mailboxes (owner) VALUES (\(W.key(3)))")
                let bodies = try await connection.query(
                    "SELECT body, signature FROM inbox_messages WHERE owner = \(W.key(2))"
                )
                #expect(bodies.count == 3)
                let marked = try await connection.query(
                    "UPDATE inbox_messages SET read_at = now() WHERE owner = \(W.key(2)) AND id = \(stored[0].id)"
                )
                #expect(marked.affectedRows == 1)
                let deleted = try await connection.query(
                    "DELETE FROM sentbox_messages WHERE owner = \(W.key(1)) AND id = \(stored[1].id)"
                )
                #expect(deleted.affectedRows == 1)
                // Expiry runs as this role too.
                var configuration = MessageExpiry.Configuration()
                configuration.timeToLive = .seconds(1)
                let report = try await MessageExpiry(configuration: configuration).run(
                    now: Date().addingTimeInterval(3_600),
                    on: connection
                )
                #expect(report.inboxDeleted == 3)
            }
            for statement: PostgresQuery in [
                "INSERT INTO inbox_messages (owner, id, sender, created_at, body, sentbox_body_hash, signature) VALUES (\(W.key(2)), gen_random_uuid(), \(W.key(1)), now(), '\\x00', '\\x00', \([UInt8](repeating: 0, count: 64)))",
                "UPDATE inbox_messages SET body = '\\x00'", "SELECT * FROM rejected_envelopes",
                "SELECT * FROM worker_progress", "DELETE FROM mailboxes", "UPDATE mailbox_usage SET messages = 0",
                "UPDATE messages SET inbox_body = '\\x00'", "INSERT INTO messages (recipient) VALUES ('\\x00')",
                "CREATE TABLE scratch (x int)",
            ] {
                #expect(try await Self.denied(role, statement, on: connection), "\(statement)")
            }
            #expect(try await Self.notOwner(role, "ALTER TABLE messages ADD COLUMN extra int", on: connection))
            #expect(try await Self.notOwner(role, "DROP VIEW mailroom_ops.mailbox_counts", on: connection))
        }
    }

    @Test func theQueryLibrarysStatementsAllRunAsTheQueryRole() async throws {
        try await W.migrated { connection in
            let stored = try await Self.seed(connection)
            let ids = try stored.map { message in
                try withUnsafeBytes(of: message.id.uuid) { try MessageID(bytes: $0) }
            }
            try await Self.asRole("mailroom_query", on: connection) {
                _ = try await MailboxQueries.setup(owner: W.key(3), on: connection)
                #expect(try await MailboxQueries.createdAt(owner: W.key(3), on: connection) != nil)
                let page = try await InboxQueries.page(owner: W.key(2), PageRequest(), status: .all, on: connection)
                #expect(page.count == 3)
                #expect(try await InboxQueries.read(owner: W.key(2), id: ids[0], on: connection) != nil)
                #expect(try await InboxQueries.unreadCount(owner: W.key(2), on: connection) == 2)
                #expect(try await InboxQueries.delete(owner: W.key(2), id: ids[1], on: connection))
                #expect(try await SentboxQueries.page(owner: W.key(1), PageRequest(), on: connection).count == 3)
                #expect(try await SentboxQueries.delete(owner: W.key(1), id: ids[2], on: connection))
                let inbox = try await WatchQueries.changes(
                    box: .inbox,
                    owners: [W.key(2)],
                    frontiers: [0],
                    on: connection
                )
                #expect(inbox.changes.count >= 3)  // the rows still there, the read event, the delete event
                let sentbox = try await WatchQueries.changes(
                    box: .sentbox,
                    owners: [W.key(1)],
                    frontiers: [0],
                    on: connection
                )
                #expect(!sentbox.changes.isEmpty)
                _ = try await WatchQueries.pruneEvents(olderThanSeconds: 3_600, on: connection)
            }
            #expect(try await Self.int("SELECT count(*) FROM mailbox_events", connection) == 3)
            #expect(try await Self.int("SELECT unread FROM mailbox_usage WHERE owner = \(W.key(2))", connection) == 1)
        }
    }

    static func int(_ query: PostgresQuery, _ connection: PostgresConnection) async throws -> Int64 {
        try await connection.query(query).single().decode(Int64.self, column: 0)
    }

    @Test func theRolesExistAndCannotLogInWhicheverDatabaseMigratedFirst() async throws {
        // A second database migrates while the roles exist already (as every parallel test does).
        try await W.migrated { connection in
            let rows = try await connection.query(
                "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'mailroom\\_%' ORDER BY 1"
            )
            let roles = try rows.map { try $0.decode(String.self, Bool.self) }
            #expect(
                roles.filter { ["mailroom_dashboard", "mailroom_query", "mailroom_worker"].contains($0.0) }.count == 3
            )
            #expect(roles.allSatisfy { !$0.1 })
        }
    }

    /// ALTER and DROP need ownership: PostgreSQL refuses them with 42501 "must be owner".
    static func notOwner(
        _ role: String,
        _ statement: PostgresQuery,
        on connection: PostgresConnection
    ) async throws
        -> Bool
    {
        try await denied(role, statement, on: connection)
    }
}
