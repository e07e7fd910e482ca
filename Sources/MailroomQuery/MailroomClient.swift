public import Foundation
public import Logging
public import MailroomCore
internal import MailroomPostgres
internal import MailroomStore

/// What app backends use to serve their users' mailboxes: listings, reads, deletes, unread counts and live
/// watches, every call scoped to one owner's key.
///
/// The client holds a pool of libpq connections (``Configuration/poolSize``), driven without blocking (results
/// are read by the process's event loops, one thread per core, never on Swift's cooperative thread pool), and —
/// once something is watched — one `LISTEN` session shared by every watcher of the client. Use it inside
/// ``withClient(_:logger:_:)``, which shuts it down however the body ends, or call ``shutdown()`` when done.
///
/// ```swift
/// try await MailroomClient.withClient(.init(databaseURL: url)) { client in
///     let page = try await client.listInbox(owner: me.publicKey, limit: 50)
///     let body = try page.first?.open(with: me)       // verifies the sender's signature, then decrypts
///     for try await event in try await client.watchInbox(owner: me.publicKey) { print(event) }
/// }
/// ```
public final class MailroomClient: Sendable {
    /// The settings the client was made with.
    public let configuration: Configuration
    let pool: PostgresConnectionPool
    let logger: Logger
    let hub: WatchHub

    /// Creates a client; connections open on first use.
    public init(_ configuration: Configuration, logger: Logger = Logger(label: "mailroom.query")) {
        self.configuration = configuration
        self.logger = logger
        self.pool = PostgresConnectionPool(
            .init(connection: configuration.connection, size: configuration.poolSize),
            logger: logger
        )
        self.hub = WatchHub(configuration: configuration, pool: pool, logger: logger)
    }

    /// An executor for a task that makes many calls: run it with `Task(executorPreference: client.nextExecutor())`
    /// (or `withTaskExecutorPreference`) and its queries go to connections whose results are read by the
    /// executor's thread, where the task resumes without a hand-over to another thread (about 1.4 times the
    /// page rate of default tasks on a 2-core VM; docs/QUERY.md). Successive calls hand out the process's event
    /// loops (one per core) in turn. Such a task must not block: its thread also reads other connections.
    public func nextExecutor() -> any TaskExecutor { pool.nextExecutor() }

    /// Runs `body` with a new client and shuts the client down when `body` returns or throws, so that no
    /// connection, watch or thread outlives it.
    public static func withClient<T: Sendable>(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "mailroom.query"),
        _ body: (MailroomClient) async throws -> T
    ) async throws -> T {
        let client = MailroomClient(configuration, logger: logger)
        do {
            let value = try await body(client)
            await client.shutdown()
            return value
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Ends every watch, stops the LISTEN session and closes the pool's connections. Later calls do nothing.
    public func shutdown() async {
        await hub.shutdown()
        await pool.close()
    }

    // MARK: Mailboxes

    /// Creates the owner's mailbox if it does not exist (idempotent) and returns it.
    public func setupMailbox(_ owner: PublicKey) async throws -> Mailbox {
        let created = try await withDatabase { try await MailboxQueries.setup(owner: owner.bytes, on: $0) }
        return Mailbox(owner: owner, createdAt: created)
    }

    /// The owner's mailbox.
    /// - Throws: ``MailroomQueryError`` with code ``MailroomQueryError/Code/mailboxNotFound``.
    public func mailbox(_ owner: PublicKey) async throws -> Mailbox {
        guard
            let created = try await withDatabase({
                try await MailboxQueries.createdAt(owner: owner.bytes, on: $0)
            })
        else { throw Self.mailboxNotFound(owner) }
        return Mailbox(owner: owner, createdAt: created)
    }

    /// Whether the owner has a mailbox.
    public func mailboxExists(_ owner: PublicKey) async throws -> Bool {
        try await withDatabase { try await MailboxQueries.createdAt(owner: owner.bytes, on: $0) } != nil
    }

    // MARK: Listings

    /// One page of the owner's inbox, newest first unless `ascending`.
    ///
    /// Keyset pagination on the message id: pass the last id of a page as `seek` to get the next page. The
    /// cursor is exclusive (the `seek` message is not repeated), unlike Textile's inclusive seek.
    /// - Parameters:
    ///   - owner: whose inbox.
    ///   - seek: start strictly after this id; `nil` for the first page.
    ///   - limit: page size, `1...10000` (default 100).
    ///   - ascending: oldest first.
    ///   - status: all, read or unread messages.
    /// - Throws: ``MailroomQueryError`` with ``MailroomQueryError/Code/invalidLimit``, or
    ///   ``MailroomQueryError/Code/mailboxNotFound`` (checked only when the page is empty, so it costs nothing
    ///   on a non-empty page); ``PostgresError``.
    public func listInbox(
        owner: PublicKey,
        seek: MessageID? = nil,
        limit: Int = PageLimits.default,
        ascending: Bool = false,
        status: InboxStatus = .all
    ) async throws -> [InboxMessage] {
        let page = try Self.page(seek: seek, limit: limit, ascending: ascending)
        let ownerBytes = owner.bytes
        let rows = try await withDatabase { connection in
            let rows = try await InboxQueries.page(owner: ownerBytes, page, status: status, on: connection)
            if rows.isEmpty, try await MailboxQueries.createdAt(owner: ownerBytes, on: connection) == nil {
                throw Self.mailboxNotFound(owner)
            }
            return rows
        }
        var messages: [InboxMessage] = []
        messages.reserveCapacity(rows.count)
        for row in rows { messages.append(try InboxMessage(row: row, owner: owner)) }
        return messages
    }

    /// One page of the owner's sentbox, newest first unless `ascending` (same cursor rules as
    /// ``listInbox(owner:seek:limit:ascending:status:)``).
    /// - Throws: ``MailroomQueryError`` (``MailroomQueryError/Code/invalidLimit``,
    ///   ``MailroomQueryError/Code/mailboxNotFound``); ``PostgresError``.
    public func listSentbox(
        owner: PublicKey,
        seek: MessageID? = nil,
        limit: Int = PageLimits.default,
        ascending: Bool = false
    ) async throws -> [SentboxMessage] {
        let page = try Self.page(seek: seek, limit: limit, ascending: ascending)
        let ownerBytes = owner.bytes
        let rows = try await withDatabase { connection in
            let rows = try await SentboxQueries.page(owner: ownerBytes, page, on: connection)
            if rows.isEmpty, try await MailboxQueries.createdAt(owner: ownerBytes, on: connection) == nil {
                throw Self.mailboxNotFound(owner)
            }
            return rows
        }
        var messages: [SentboxMessage] = []
        messages.reserveCapacity(rows.count)
        for row in rows { messages.append(try SentboxMessage(row: row, owner: owner)) }
        return messages
    }

    // MARK: One message

    /// Returns the owner's inbox message, marking it read the first time (watchers then get a `read` event).
    /// Reading it again changes nothing and returns the first `readAt`.
    /// - Throws: ``MailroomQueryError`` with ``MailroomQueryError/Code/messageNotFound`` (also for another
    ///   owner's message) or ``MailroomQueryError/Code/mailboxNotFound``; ``PostgresError``.
    public func readInboxMessage(owner: PublicKey, id: MessageID) async throws -> InboxMessage {
        let ownerBytes = owner.bytes
        let row = try await withDatabase { connection -> InboxRow in
            guard var row = try await InboxQueries.read(owner: ownerBytes, id: id, on: connection) else {
                throw try await Self.notFound(owner: owner, id: id, box: "inbox", on: connection)
            }
            if row.readAt == nil {
                // Another session marked it between this statement's snapshot and its update: read it back.
                guard let again = try await InboxQueries.read(owner: ownerBytes, id: id, on: connection) else {
                    throw try await Self.notFound(owner: owner, id: id, box: "inbox", on: connection)
                }
                row = again
            }
            return row
        }
        return try InboxMessage(row: row, owner: owner)
    }

    /// Deletes the owner's inbox message (watchers get a `deleted` event).
    /// - Throws: ``MailroomQueryError`` with ``MailroomQueryError/Code/messageNotFound`` — also for another
    ///   owner's message, which is left alone — or ``MailroomQueryError/Code/mailboxNotFound``.
    public func deleteInboxMessage(owner: PublicKey, id: MessageID) async throws {
        let ownerBytes = owner.bytes
        try await withDatabase { connection in
            guard try await InboxQueries.delete(owner: ownerBytes, id: id, on: connection) else {
                throw try await Self.notFound(owner: owner, id: id, box: "inbox", on: connection)
            }
        }
    }

    /// Deletes the owner's sentbox message (watchers get a `deleted` event). The recipient's copy stays.
    /// - Throws: ``MailroomQueryError`` with ``MailroomQueryError/Code/messageNotFound`` or
    ///   ``MailroomQueryError/Code/mailboxNotFound``.
    public func deleteSentboxMessage(owner: PublicKey, id: MessageID) async throws {
        let ownerBytes = owner.bytes
        try await withDatabase { connection in
            guard try await SentboxQueries.delete(owner: ownerBytes, id: id, on: connection) else {
                throw try await Self.notFound(owner: owner, id: id, box: "sentbox", on: connection)
            }
        }
    }

    // MARK: Block lists

    /// Blocks `sender` for `owner`: the worker refuses the sender's new mail to the owner (`blocked_sender`,
    /// kept in `rejected_envelopes` and on the dead-letter topic); mail stored before stays. Returns whether
    /// the sender was not blocked yet.
    /// - Throws: ``MailroomQueryError`` with ``MailroomQueryError/Code/mailboxNotFound``.
    @discardableResult
    public func block(owner: PublicKey, sender: PublicKey) async throws -> Bool {
        try await withMailbox(of: owner) {
            try await BlockQueries.block(owner: owner.bytes, sender: sender.bytes, on: $0)
        }
    }

    /// Unblocks `sender` for `owner`; returns whether the sender was blocked.
    /// - Throws: ``MailroomQueryError`` with ``MailroomQueryError/Code/mailboxNotFound``.
    @discardableResult
    public func unblock(owner: PublicKey, sender: PublicKey) async throws -> Bool {
        try await withMailbox(of: owner) {
            try await BlockQueries.unblock(owner: owner.bytes, sender: sender.bytes, on: $0)
        }
    }

    /// The senders `owner` has blocked, oldest block first, with when each was blocked.
    /// - Throws: ``MailroomQueryError`` with ``MailroomQueryError/Code/mailboxNotFound``.
    public func blocks(owner: PublicKey) async throws -> [(sender: PublicKey, since: Date)] {
        try await withMailbox(of: owner) { connection in
            try await BlockQueries.blocks(owner: owner.bytes, on: connection).map { row in
                guard let key = try? PublicKey(bytes: row.sender) else {
                    throw MailroomQueryError(.corruptRow, "a blocked key in the block list is not a public key")
                }
                return (key, row.since)
            }
        }
    }

    /// Runs `body` on a pooled connection once `owner`'s mailbox is known to exist.
    private func withMailbox<T: Sendable>(
        of owner: PublicKey,
        _ body: (PostgresConnection) async throws -> T
    )
        async throws -> T
    {
        try await withDatabase { connection in
            guard try await MailboxQueries.createdAt(owner: owner.bytes, on: connection) != nil else {
                throw Self.mailboxNotFound(owner)
            }
            return try await body(connection)
        }
    }

    /// How many of the owner's inbox messages were never read.
    /// - Throws: ``MailroomQueryError`` with ``MailroomQueryError/Code/mailboxNotFound``.
    public func unreadCount(owner: PublicKey) async throws -> Int {
        let ownerBytes = owner.bytes
        return try await withDatabase { connection in
            let count = try await InboxQueries.unreadCount(owner: ownerBytes, on: connection)
            if count == 0, try await MailboxQueries.createdAt(owner: ownerBytes, on: connection) == nil {
                throw Self.mailboxNotFound(owner)
            }
            return count
        }
    }

    /// Deletes read and delete events older than `age` from the watch log (`mailbox_events`). A watcher whose
    /// LISTEN session stays down longer than that can miss those events. Returns how many were deleted.
    @discardableResult
    public func pruneWatchEvents(olderThan age: Duration = .seconds(86_400)) async throws -> Int {
        let seconds = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
        return try await withDatabase { try await WatchQueries.pruneEvents(olderThanSeconds: seconds, on: $0) }
    }

    // MARK: Watching

    /// Watches the owner's inbox: `created`, `read` and `deleted` events with the message ids, from now on.
    ///
    /// Returns once the watch is live: every change committed after that is reported, including messages whose
    /// (sender-clock) id is older than ones already seen, and changes made while the shared LISTEN session was
    /// reconnecting. Cancelling the task that iterates ends the watch.
    /// - Throws: ``MailroomQueryError`` with ``MailroomQueryError/Code/mailboxNotFound`` or
    ///   ``MailroomQueryError/Code/shutDown``; `CancellationError`.
    public func watchInbox(owner: PublicKey) async throws -> MailboxWatch {
        try await watch(.inbox, owner: owner)
    }

    /// Watches the owner's sentbox: `created` and `deleted` events (see ``watchInbox(owner:)``).
    public func watchSentbox(owner: PublicKey) async throws -> MailboxWatch {
        try await watch(.sentbox, owner: owner)
    }

    /// What changed in the owner's box from `cursor` (an event's ``MailboxEvent/cursor`` or a watch's
    /// ``MailboxWatch/cursor``) up to now, as the events a watch would have reported: `created` (ids in id
    /// order), `read` and `deleted` (in the order they happened). Used to resume after a disconnect: open the
    /// new watch first, then ask for the changes since the old cursor; together they lose nothing, and may
    /// repeat some events. Read and delete events are kept for ``pruneWatchEvents(olderThan:)``'s age, which bounds
    /// how far back a resume can reach.
    /// - Returns: the events (each with its cursor) and the cursor after the last of them.
    /// - Throws: ``MailroomQueryError`` (``MailroomQueryError/Code/mailboxNotFound``, …).
    public func changes(
        _ box: MailboxEvent.Box,
        owner: PublicKey,
        since cursor: UInt64
    ) async throws
        -> (events: [MailboxEvent], cursor: UInt64)
    {
        guard try await mailboxExists(owner) else { throw Self.mailboxNotFound(owner) }
        let storeBox: MailboxNotification.Box = box == .inbox ? .inbox : .sentbox
        let (changes, frontier, _) = try await withDatabase { connection in
            try await WatchQueries.changes(
                box: storeBox,
                owners: [owner.bytes],
                frontiers: [Int64(clamping: cursor)],
                on: connection
            )
        }
        var created: [MessageID] = []
        var read: [(Int64, MessageID)] = []
        var deleted: [(Int64, MessageID)] = []
        for change in changes {
            switch change.kind {
            case .created: created.append(change.id)
            case .read: read.append((change.sequence, change.id))
            case .deleted: deleted.append((change.sequence, change.id))
            }
        }
        var events: [MailboxEvent] = []
        if !created.isEmpty { events.append(MailboxEvent(box: box, kind: .created, messageIDs: created.sorted())) }
        if !read.isEmpty {
            events.append(MailboxEvent(box: box, kind: .read, messageIDs: read.sorted { $0.0 < $1.0 }.map(\.1)))
        }
        if !deleted.isEmpty {
            events.append(MailboxEvent(box: box, kind: .deleted, messageIDs: deleted.sorted { $0.0 < $1.0 }.map(\.1)))
        }
        let next = max(cursor, UInt64(max(0, frontier)))
        for index in events.indices { events[index].cursor = index == events.count - 1 ? next : cursor }
        return (events, next)
    }

    private func watch(_ box: MailboxEvent.Box, owner: PublicKey) async throws -> MailboxWatch {
        guard try await mailboxExists(owner) else { throw Self.mailboxNotFound(owner) }
        return try await hub.watch(box: box, owner: owner)
    }

    // MARK: Helpers

    /// Runs `body` on a pooled connection. A database failure comes out as a ``MailroomQueryError``
    /// (``MailroomQueryError/Code/databaseUnavailable`` or ``MailroomQueryError/Code/database``), and a statement
    /// a cancellation kept from running as `CancellationError`, so callers need no database module's types.
    func withDatabase<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(body)
        } catch let error as PostgresError {
            if error.code == .cancelled { throw CancellationError() }
            throw MailroomQueryError(
                error.isConnectionLoss ? .databaseUnavailable : .database,
                error.message,
                sqlState: error.sqlState
            )
        }
    }

    static func page(seek: MessageID?, limit: Int, ascending: Bool) throws(MailroomQueryError) -> PageRequest {
        let page = PageRequest(seek: seek, limit: limit, ascending: ascending)
        guard page.isValid else {
            throw MailroomQueryError(
                .invalidLimit,
                "a page holds 1 to \(PageLimits.maximum) messages; \(limit) was asked for"
            )
        }
        return page
    }

    static func mailboxNotFound(_ owner: PublicKey) -> MailroomQueryError {
        MailroomQueryError(.mailboxNotFound, "no mailbox for \(owner.textileString)")
    }

    /// Message not found, or mailbox not found when the owner has none.
    static func notFound(
        owner: PublicKey,
        id: MessageID,
        box: String,
        on connection: PostgresConnection
    ) async throws
        -> MailroomQueryError
    {
        if try await MailboxQueries.createdAt(owner: owner.bytes, on: connection) == nil {
            return mailboxNotFound(owner)
        }
        return MailroomQueryError(.messageNotFound, "no \(box) message \(id) for \(owner.textileString)")
    }
}
