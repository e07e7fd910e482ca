public import Foundation
public import MailroomPostgres

/// The worker's write path: one transaction per batch, idempotent, with one NOTIFY per batch.
///
/// Each batch is a handful of statements whatever its size: the messages, sorted by (recipient, id), travel in
/// one binary COPY into `messages` (one row per message: the inbox and sentbox copies together), and one
/// statement adds the insert rollups (`mailbox_usage`, per-minute counts and latency) computed from the batch.
/// COPY has no conflict handling; when an (owner, id) is already taken (a redelivery after a crash or
/// rebalance, or a re-sent envelope) or a mailbox would pass its quota, the transaction rolls back and the
/// batch takes the careful path: quota checked per message, `ON CONFLICT DO NOTHING`, clashes told apart
/// from redeliveries. docs/BENCHMARKS.md ("Write path") has the measurements behind this shape.
///
/// A redelivered envelope changes nothing — in particular not `read_at`. A *different* envelope that reuses an
/// existing (owner, id) is not written and comes back as a `duplicate_message_id` rejection.
public struct MessageWriter: Sendable {
    /// What one batch did.
    public struct Outcome: Sendable, Equatable {
        /// Messages written for the first time.
        public var stored = 0
        /// Messages that were already there (a redelivery): nothing changed.
        public var redelivered = 0
        /// Envelopes refused by the write itself: their id was taken by a different message
        /// (``MessageWriter/duplicateMessageIDReason``) or the recipient's mailbox was full
        /// (``MessageWriter/mailboxFullReason``). They are recorded as rejections like those passed in.
        public var conflicts: [Rejection] = []
        /// Rejections recorded (those passed in, plus ``conflicts``), counting each record once.
        public var rejectionsRecorded = 0

        public init(stored: Int = 0, redelivered: Int = 0, conflicts: [Rejection] = [], rejectionsRecorded: Int = 0) {
            self.stored = stored
            self.redelivered = redelivered
            self.conflicts = conflicts
            self.rejectionsRecorded = rejectionsRecorded
        }
    }

    /// The reason code for an envelope whose (owner, id) holds a different message.
    public static let duplicateMessageIDReason = "duplicate_message_id"

    /// The reason code for an envelope whose recipient's inbox already holds its quota of messages.
    public static let mailboxFullReason = "mailbox_full"

    /// The reason code for an envelope that would take its recipient's inbox past its quota of bytes.
    public static let mailboxBytesFullReason = "mailbox_bytes_full"

    /// The reason code for an envelope whose sender already holds its share of the recipient's quota
    /// (``senderSharePercent``).
    public static let senderShareFullReason = "sender_share_full"

    /// The default most messages an inbox may hold (a mailbox's own `mailbox_usage.max_messages` overrides
    /// it); `nil` means no default limit (a mailbox's own limit still applies).
    public var mailboxQuota: Int64?

    /// The default most bytes of sealed bodies an inbox may hold (a mailbox's own `mailbox_usage.max_bytes`
    /// overrides it); `nil` means no default limit.
    public var mailboxByteQuota: Int64?

    /// The most one sender's messages may take of a recipient's message quota, in percent (1–100): an inbox holds
    /// at most `max(1, ⌊quota × percent / 100⌋)` messages from any one other sender, so that no stranger can fill
    /// it. A sender's mail to itself is not capped. `nil`: no cap.
    public var senderSharePercent: Int64?

    /// - Parameters:
    ///   - mailboxQuota: the default most messages an inbox may hold; `nil` for no limit.
    ///   - mailboxByteQuota: the default most bytes of bodies an inbox may hold; `nil` for no limit.
    ///   - senderSharePercent: the most of an inbox's message quota one sender may hold, in percent (clamped to
    ///     1–100); `nil` for no cap.
    public init(mailboxQuota: Int64? = nil, mailboxByteQuota: Int64? = nil, senderSharePercent: Int64? = nil) {
        self.mailboxQuota = mailboxQuota
        self.mailboxByteQuota = mailboxByteQuota
        self.senderSharePercent = senderSharePercent.map { min(max($0, 1), 100) }
    }

    /// Which of these public keys have a mailbox.
    public static func existingMailboxes(
        _ owners: some Collection<[UInt8]>,
        on connection: PostgresConnection
    ) async throws
        -> Set<[UInt8]>
    {
        let unique = Array(Set(owners))
        guard !unique.isEmpty else { return [] }
        let rows = try await connection.query(
            "SELECT owner FROM mailboxes WHERE owner = ANY(\(PostgresArray(unique)))"
        )
        return Set(try rows.map { try $0.decode([UInt8].self, column: 0) })
    }

    /// Which of these (recipient, id) messages are stored already (a redelivery of one of them
    /// is never refused, whatever the limits say; the keys are recipient ++ id bytes).
    public func storedAlready(
        recipients: [[UInt8]],
        ids: [UUID],
        on connection: PostgresConnection
    ) async throws
        -> Set<[UInt8]>
    {
        guard !recipients.isEmpty else { return [] }
        let rows = try await connection.query(
            """
            SELECT m.recipient || uuid_send(m.id) FROM unnest(\(PostgresArray(recipients)), \(PostgresArray(ids))) AS b(r, i)
            JOIN messages m ON m.recipient = b.r AND m.id = b.i
            """
        )
        return Set(try rows.map { try $0.decode([UInt8].self, column: 0) })
    }

    /// Writes a batch of verified messages and rejections in one transaction and notifies watchers once.
    /// On any error nothing is written, and the caller retries the whole batch.
    ///
    /// Messages to a full inbox (see ``mailboxQuota``) are not written: they come back in
    /// ``Outcome/conflicts`` with ``mailboxFullReason``. A redelivered message is never refused for the quota.
    /// - Parameters:
    ///   - progress: the partitions' progress to record in the same transaction (`worker_progress`), so that
    ///     what it says is exactly as durable as the rows.
    public func write(
        _ messages: [NewMessage],
        senderCopies: [NewSenderCopy] = [],
        rejections: [Rejection],
        worker: String,
        progress: [PartitionProgress] = [],
        on connection: PostgresConnection
    ) async throws -> Outcome {
        try await write(
            PreparedBatch(messages, senderCopies: senderCopies),
            rejections: rejections,
            worker: worker,
            progress: progress,
            on: connection
        )
    }

    /// Writes a prepared batch (see ``PreparedBatch``): as the `[NewMessage]` variant does, with the batch's sorting
    /// and encoding already done.
    public func write(
        _ batch: PreparedBatch,
        rejections: [Rejection],
        worker: String,
        progress: [PartitionProgress] = [],
        on connection: PostgresConnection
    ) async throws -> Outcome {
        do {
            return try await connection.withTransaction { connection -> Outcome in
                let batches = try await storeBatches(batch.batches, on: connection)
                // A batch id another batch of the sender holds already: the careful path refuses its records.
                guard batches.values.allSatisfy(\.sameHead) else { throw TakeCarefulPath() }
                let usage = try await insertNew(batch, batches: batches, on: connection)
                guard !usage.overQuota else { throw TakeCarefulPath() }
                if !usage.nearSenderCap.isEmpty,
                    try await passesSenderCap(batch, recipients: usage.nearSenderCap, on: connection)
                {
                    throw TakeCarefulPath()
                }
                let recorded = try await record(rejections, on: connection)
                let copiesStored = batches.filter(\.value.copyStored).map(\.key.sender)
                try await finish(
                    recipients: batch.recipients,
                    senders: copiesStored.isEmpty ? batch.senders : Array(Set(batch.senders + copiesStored)),
                    sentboxOwners: batch.batchMessages.isEmpty && copiesStored.isEmpty
                        ? nil : Array(Set(batch.singleSenders + copiesStored)),
                    worker: worker,
                    progress: progress,
                    on: connection
                )
                return Outcome(
                    stored: batch.messages.count + copiesStored.count,
                    redelivered: batch.senderCopies.count - copiesStored.count,
                    conflicts: [],
                    rejectionsRecorded: recorded
                )
            }
        } catch let error as PostgresError where error.sqlState == "23505" {
            // A redelivery or an id clash: some (owner, id) is taken. Rolled back; take the careful path.
        } catch is TakeCarefulPath {
            // A mailbox passed its quota, or a sender its share: rolled back; the careful path refuses exactly
            // the messages past them.
        }
        // In the batch's own (Kafka) order: a full mailbox refuses the last messages sent to it.
        return try await writeCarefully(
            batch,
            rejections: rejections,
            worker: worker,
            progress: progress,
            on: connection
        )
    }

    /// The messages in PostgreSQL's order of the primary key (recipient, id): bytewise, then bytewise. Sorts
    /// small fixed-size keys and indexes rather than the messages themselves (moving a message retains and
    /// releases each of its arrays; that showed in profiles).
    static func inKeyOrder(_ messages: [NewMessage]) -> [NewMessage] {
        let keys = messages.map(sortKey)
        let order = keys.indices.sorted { keys[$0] < keys[$1] }
        return order.map { messages[$0] }
    }

    private static func sortKey(_ message: NewMessage) -> (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) {
        withUnsafeBytes(of: message.id.uuid) { id in
            message.recipient.withUnsafeBytes { recipient in primaryKeyOrder(recipient: recipient, id: id) }
        }
    }

    /// The 32-byte recipient and the 16-byte id as six big-endian words, so that tuple order is the primary key's
    /// bytewise order (also the bench's bare pipeline's write order).
    @_spi(Benchmarks) public static func primaryKeyOrder(
        recipient: UnsafeRawBufferPointer,
        id: UnsafeRawBufferPointer
    ) -> (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) {
        func word(_ buffer: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
            buffer.count >= offset + 8
                ? UInt64(bigEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) : 0
        }
        return (
            word(recipient, 0), word(recipient, 8), word(recipient, 16), word(recipient, 24), word(id, 0), word(id, 8)
        )
    }

    /// The fast path, for a batch of new messages to mailboxes with room (every batch but those after a crash,
    /// a rebalance or a re-send): one binary COPY of the whole batch (no `ON CONFLICT`, whose speculative
    /// insertion costs a third more), then the insert rollups in one statement. Fails with unique_violation
    /// (23505) when any (owner, id) is already taken. Returns whether a recipient is now over its quota (the
    /// caller then rolls back) and the recipients now holding more messages than the sender cap, where one of
    /// the batch's senders may have passed it.
    private func insertNew(
        _ batch: PreparedBatch,
        batches: [PreparedBatch.BatchKey: BatchState],
        on connection: PostgresConnection
    ) async throws
        -> (overQuota: Bool, nearSenderCap: Set<[UInt8]>)
    {
        guard !batch.messages.isEmpty else { return (false, []) }
        // The rows: one binary COPY (no ON CONFLICT: a taken (owner, id) fails it with 23505, and the caller
        // takes the careful path). Measured against an INSERT … SELECT of unnested arrays: ~21 against ~30 µs of
        // server time per message, and no arrays to build (docs/BENCHMARKS.md, "Write path").
        if !batch.copy.isEmpty {
            try await connection.copyIn(
                """
                COPY messages (recipient, id, sender, created_at, inbox_body, sentbox_body, inbox_body_hash,
                               sentbox_body_hash, signature) FROM STDIN (FORMAT binary)
                """,
                data: batch.copy
            )
        }
        if !batch.batchMessages.isEmpty {
            try await connection.copyIn(
                """
                COPY messages (recipient, id, sender, created_at, inbox_body, batch_id, batch_index)
                FROM STDIN (FORMAT binary)
                """,
                data: batch.batchCopy
            )
            // The paths of rows whose batch's recipient list is not stored yet.
            let waiting = batch.batchMessages.filter { m in
                !(batches[PreparedBatch.BatchKey(sender: m.sender, batchID: m.batch!.batchID)]?.hasRecipients ?? false)
            }
            if !waiting.isEmpty {
                // A binary COPY, like the rows (no conflict handling either: a taken key fails the batch with
                // 23505 and the careful path takes over).
                var paths = PostgresBinaryCopy(reservingCapacity: waiting.reduce(0) { $0 + 90 + $1.batch!.path.count })
                for message in waiting {
                    paths.startRow(fields: 4)
                    paths.append(message.sender)
                    paths.append(message.batch!.batchID)
                    paths.append(message.batch!.index)
                    paths.append(message.batch!.path)
                }
                try await connection.copyIn(
                    "COPY message_batch_paths (sender, batch_id, batch_index, path) FROM STDIN (FORMAT binary)",
                    data: paths.finish()
                )
            }
        }
        let counted = batch.batches.filter { $0.messages > 0 }
        if !counted.isEmpty {
            // The batches' counters, and a shared payload where the batch holds none (only rows inserted count).
            try await connection.query(
                """
                SELECT mailroom_batches_stored(
                    \(PostgresArray(counted.map(\.sender))), \(PostgresArray(counted.map(\.batchID))),
                    \(PostgresArray(counted.map { Int32($0.messages) })), \(PostgresArray(counted.map(\.payload))))
                """
            )
        }
        // The insert rollups, from the batch in hand.
        let quota = mailboxQuota ?? .max
        let byteQuota = mailboxByteQuota ?? .max
        let share = senderSharePercent ?? 100
        let rows = try await connection.query(
            """
            WITH usage AS (
                \(sql: Self.usageInsert)
                SELECT owner, n, n, b, now() FROM unnest(
                    \(PostgresArray(batch.recipients)), \(PostgresArray(batch.counts)), \(PostgresArray(batch.bytes))
                ) AS d(owner, n, b)
                ORDER BY owner
                \(sql: Self.usageAdd)
                RETURNING u.owner, u.messages, u.max_messages, u.bytes, u.max_bytes
            ), per_minute AS (
                \(sql: Self.storedPerMinute) SELECT date_trunc('minute', now()), pg_backend_pid(), \(Int64(batch.messages.count))
                ON CONFLICT (minute, backend) DO UPDATE SET messages = s.messages + excluded.messages
            ), latency AS (
                \(sql: Self.latencyPerMinute)
                FROM unnest(\(PostgresArray(batch.createdAt))) AS c(created_at)) r GROUP BY 1, 3 ORDER BY 3
                ON CONFLICT (minute, backend, bucket) DO UPDATE SET messages = l.messages + excluded.messages
            )
            SELECT owner, messages > coalesce(max_messages, \(quota)) OR bytes > coalesce(max_bytes, \(byteQuota))
            FROM usage
            WHERE messages > coalesce(max_messages, \(quota)) OR bytes > coalesce(max_bytes, \(byteQuota))
               OR messages > greatest(floor(coalesce(max_messages, \(quota))::numeric * \(share) / 100), 1)
            """
        )
        var overQuota = false
        var nearSenderCap: Set<[UInt8]> = []
        for row in rows {
            let (owner, over) = try row.decode([UInt8].self, Bool.self)
            overQuota = overQuota || over
            if senderSharePercent != nil { nearSenderCap.insert(owner) }
        }
        return (overQuota, nearSenderCap)
    }

    /// Whether one of the batch's senders to these recipients (which hold more messages than the sender cap, so
    /// the cap may bind) now holds more of a recipient's inbox than the cap allows: one count over the recipient's
    /// rows per such (recipient, sender) pair.
    private func passesSenderCap(
        _ batch: PreparedBatch,
        recipients: Set<[UInt8]>,
        on connection: PostgresConnection
    ) async throws -> Bool {
        guard let share = senderSharePercent else { return false }
        var pairs: Set<[UInt8]> = []
        var pairRecipients: [[UInt8]] = []
        var pairSenders: [[UInt8]] = []
        for message in batch.messages
        where message.sender != message.recipient && recipients.contains(message.recipient) {
            guard pairs.insert(message.recipient + message.sender).inserted else { continue }
            pairRecipients.append(message.recipient)
            pairSenders.append(message.sender)
        }
        guard !pairRecipients.isEmpty else { return false }
        let quota = mailboxQuota ?? .max
        let rows = try await connection.query(
            """
            SELECT 1 FROM mailroom_inbox_held(\(PostgresArray(pairRecipients)), \(PostgresArray(pairSenders))) h
            JOIN mailbox_usage u ON u.owner = h.recipient
            WHERE h.held > greatest(floor(coalesce(u.max_messages, \(quota))::numeric * \(share) / 100), 1)
            LIMIT 1
            """
        )
        return rows.count > 0
    }

    /// The insert rollup of the recipients' counters: every new message is unread. Each statement feeds it
    /// (owner, count, count, bytes, now()) rows in key order (the order their rows are locked in).
    private static let usageInsert: StaticString =
        "INSERT INTO mailbox_usage AS u (owner, messages, unread, bytes, last_active_at)"
    private static let usageAdd: StaticString = """
        ON CONFLICT (owner) DO UPDATE
            SET messages = u.messages + excluded.messages, unread = u.unread + excluded.unread,
                bytes = u.bytes + excluded.bytes, last_active_at = greatest(u.last_active_at, excluded.last_active_at)
        """

    /// What the database holds of a batch a worker batch refers to (`mailroom_store_batches`, migration 0011).
    struct BatchState: Sendable {
        /// Whether the stored head is this batch's (otherwise another batch of the sender has its id).
        var sameHead: Bool
        /// Whether the batch's recipient list is stored: then its rows need no Merkle path of their own.
        var hasRecipients: Bool
        /// Whether this transaction stored the batch's sender copy (not a redelivery).
        var copyStored: Bool
    }

    /// Stores the heads and sender copies of `entries`' batches, locking their rows in key order, and
    /// returns what the database holds of each.
    private func storeBatches(
        _ entries: [PreparedBatch.BatchEntry],
        on connection: PostgresConnection
    ) async throws -> [PreparedBatch.BatchKey: BatchState] {
        guard !entries.isEmpty else { return [:] }
        let rows = try await connection.query(
            """
            SELECT sender, batch_id, same_head, has_recipients, copy_stored FROM mailroom_store_batches(
                \(PostgresArray(entries.map(\.sender))), \(PostgresArray(entries.map(\.batchID))),
                \(PostgresArray(entries.map(\.head))), \(PostgresArray(entries.map(\.createdAt))),
                \(PostgresArray(entries.map(\.copyBody))), \(PostgresArray(entries.map(\.copyRecipients))))
            """
        )
        var states: [PreparedBatch.BatchKey: BatchState] = [:]
        for row in rows {
            let (sender, batchID, sameHead, hasRecipients, copyStored) = try row.decode(
                [UInt8].self,
                UUID.self,
                Bool.self,
                Bool.self,
                Bool.self
            )
            states[PreparedBatch.BatchKey(sender: sender, batchID: batchID)] = BatchState(
                sameHead: sameHead,
                hasRecipients: hasRecipients,
                copyStored: copyStored
            )
        }
        return states
    }

    /// The binary COPY of batch recipients' rows (their paths go to `message_batch_paths` when needed).
    static func batchMessagesCopy(_ messages: [NewMessage]) -> [UInt8] {
        var copy = PostgresBinaryCopy(reservingCapacity: messages.reduce(0) { $0 + 160 + $1.inboxBody.count })
        for message in messages {
            guard let batch = message.batch else { continue }
            copy.startRow(fields: 7)
            copy.append(message.recipient)
            copy.append(message.id)
            copy.append(message.sender)
            copy.append(message.createdAt)
            copy.append(message.inboxBody)
            copy.append(batch.batchID)
            copy.append(batch.index)
        }
        return copy.finish()
    }

    private static let storedPerMinute: StaticString =
        "INSERT INTO stats_stored_per_minute AS s (minute, backend, messages)"

    /// The latency histogram's insert, up to its FROM: bucket b holds latencies in (1.1^(b-1), 1.1^b] ms
    /// (migration 0002), latency being stored_at (now()) minus created_at.
    private static let latencyPerMinute: StaticString = """
        INSERT INTO stats_latency_per_minute AS l (minute, backend, bucket, messages)
        SELECT date_trunc('minute', now()), pg_backend_pid(),
               CASE WHEN ms <= 1 THEN 0 ELSE least(ceil(ln(ms) / ln(1.1)), 32000)::smallint END, count(*)
        FROM (SELECT date_part('epoch', now() - created_at) * 1000 AS ms
        """

    /// Refreshes the senders' `last_active_at` (at most hourly; never waiting for a row another writer holds),
    /// records progress and notifies watchers of the recipients' inboxes and the sentboxes that got an entry
    /// (`sentboxOwners`; by default the senders; a batch recipient's message adds none: its batch's sender copy
    /// does): the end of
    /// every batch's transaction, in one statement (one round trip instead of one per step and per notification
    /// payload). The payloads (``MailboxNotification``) carry owner tokens, which only the database can compute.
    private func finish(
        recipients: [[UInt8]],
        senders: [[UInt8]],
        sentboxOwners: [[UInt8]]? = nil,
        worker: String,
        progress: [PartitionProgress],
        on connection: PostgresConnection
    ) async throws {
        guard !senders.isEmpty || !progress.isEmpty || !recipients.isEmpty else { return }
        let progress = progress.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        // Offsets and high-water marks only move forward, so a worker that lost a partition in a rebalance and
        // writes its last batch late cannot move them back.
        try await connection.query(
            """
            WITH active AS (
                UPDATE mailbox_usage u SET last_active_at = now()
                WHERE u.owner IN (
                    SELECT l.owner FROM mailbox_usage l
                    WHERE l.owner = ANY(\(PostgresArray(senders)))
                      AND (l.last_active_at IS NULL OR l.last_active_at < now() - interval '1 hour')
                    ORDER BY l.owner FOR UPDATE OF l SKIP LOCKED)
                RETURNING 1
            ), progress AS (
                INSERT INTO worker_progress AS p
                    (consumer_group, topic, kafka_partition, next_offset, high_watermark, worker)
                SELECT g, t, k, o, h, \(worker) FROM unnest(
                    \(PostgresArray(progress.map(\.consumerGroup))), \(PostgresArray(progress.map(\.topic))),
                    \(PostgresArray(progress.map(\.partition))), \(PostgresArray(progress.map(\.nextOffset))),
                    \(PostgresArray(progress.map(\.highWatermark)))
                ) AS b(g, t, k, o, h)
                ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE
                    SET next_offset = greatest(p.next_offset, excluded.next_offset),
                        high_watermark = greatest(p.high_watermark, excluded.high_watermark),
                        worker = excluded.worker, updated_at = now()
                RETURNING 1
            ), tokens AS (
                SELECT 'inbox' AS box, token FROM mailroom_owner_tokens(\(PostgresArray(recipients)))
                UNION ALL
                SELECT 'sentbox', token FROM mailroom_owner_tokens(\(PostgresArray(sentboxOwners ?? senders)))
            ), chunks AS (
                SELECT box, lpad(to_hex(token), 16, '0') AS token,
                       (row_number() OVER (PARTITION BY box) - 1) / \(Int64(MailboxNotification.tokensPerPayload)) AS chunk
                FROM tokens
            )
            SELECT pg_notify(\(MailboxNotification.channel), box || ':created:' || string_agg(token, ','))
            FROM chunks GROUP BY box, chunk
            """
        )
    }

    /// The careful path: quota checked message by message, ON CONFLICT DO NOTHING, clashes told apart from
    /// redeliveries (a clashing envelope is left out and the batch written again without it).
    private func writeCarefully(
        _ batch: PreparedBatch,
        rejections: [Rejection],
        worker: String,
        progress: [PartitionProgress],
        on connection: PostgresConnection
    ) async throws -> Outcome {
        var toWrite = batch.messages
        var conflicts: [Rejection] = []
        while true {
            do {
                return try await connection.withTransaction { connection -> Outcome in
                    let batches = try await storeBatches(batch.batches, on: connection)
                    // Records of a batch whose id another batch of the sender already holds.
                    func clashing(_ sender: [UInt8], _ batchID: UUID) -> Bool {
                        batches[PreparedBatch.BatchKey(sender: sender, batchID: batchID)].map { !$0.sameHead } ?? false
                    }
                    let detail = "another batch of the sender with this batch id is already stored"
                    var headClashes = toWrite.filter { m in m.batch.map { clashing(m.sender, $0.batchID) } ?? false }
                        .map {
                            Rejection(
                                refusing: $0,
                                reason: Self.duplicateMessageIDReason,
                                detail: detail,
                                worker: worker
                            )
                        }
                    var copiesStored: [[UInt8]] = []
                    var copyClashes = 0
                    for copy in batch.senderCopies {
                        let key = PreparedBatch.BatchKey(sender: copy.sender, batchID: copy.batchID)
                        if batches[key].map({ !$0.sameHead }) ?? false {
                            copyClashes += 1
                            headClashes.append(
                                Rejection(
                                    source: copy.source,
                                    reason: Self.duplicateMessageIDReason,
                                    detail: detail,
                                    messageID: copy.batchID,
                                    sender: copy.sender,
                                    envelopeBytes: 0,
                                    worker: worker
                                )
                            )
                        }
                    }
                    for (key, state) in batches where state.copyStored { copiesStored.append(key.sender) }
                    let candidates =
                        headClashes.isEmpty
                        ? toWrite : toWrite.filter { m in !(m.batch.map { clashing(m.sender, $0.batchID) } ?? false) }
                    let over = try await overQuota(candidates, on: connection)
                    let refused = over.map { index, limit in
                        Rejection(
                            refusing: candidates[index],
                            reason: limit.reason,
                            detail: limit.detail,
                            worker: worker
                        )
                    }
                    let full = over.map(\.index)
                    let toWrite = full.isEmpty ? candidates : Self.removing(full, from: candidates)
                    let stored = try await insertSkippingExisting(
                        toWrite,
                        batches: batches,
                        entries: batch.batches,
                        on: connection
                    )
                    if stored < toWrite.count {
                        let clashing = try await clashes(toWrite, on: connection)
                        if !clashing.isEmpty {
                            // Roll back and write the batch again without the clashing envelopes.
                            conflicts += clashing.map { index in
                                Rejection(
                                    refusing: toWrite[index],
                                    reason: Self.duplicateMessageIDReason,
                                    detail:
                                        "another message with this id is already stored for the sender or recipient",
                                    worker: worker
                                )
                            }
                            throw RetryWithoutClashes(ids: Set(clashing.map { toWrite[$0].source }))
                        }
                    }
                    let recorded = try await record(rejections + conflicts + headClashes + refused, on: connection)
                    try await finish(
                        recipients: Array(Set(toWrite.map(\.recipient))),
                        senders: Array(Set(PreparedBatch.distinctSenders(toWrite) + copiesStored)),
                        sentboxOwners: Array(
                            Set(PreparedBatch.distinctSenders(toWrite.filter { $0.batch == nil }) + copiesStored)
                        ),
                        worker: worker,
                        progress: progress,
                        on: connection
                    )
                    return Outcome(
                        stored: stored + copiesStored.count,
                        redelivered: toWrite.count - stored + batch.senderCopies.count - copiesStored.count
                            - copyClashes,
                        conflicts: conflicts + headClashes + refused,
                        rejectionsRecorded: recorded
                    )
                }
            } catch let retry as RetryWithoutClashes {
                toWrite.removeAll { retry.ids.contains($0.source) }
                continue
            }
        }
    }

    /// Inserts the messages whose (recipient, id) and (sender, id) are both free, with the insert rollups
    /// computed from the rows actually inserted; returns how many.
    private func insertSkippingExisting(
        _ messages: [NewMessage],
        batches: [PreparedBatch.BatchKey: BatchState],
        entries: [PreparedBatch.BatchEntry],
        on connection: PostgresConnection
    ) async throws
        -> Int
    {
        let singles = messages.filter { $0.batch == nil }
        let members = singles.count == messages.count ? [] : messages.filter { $0.batch != nil }
        let stored = try await insertSinglesSkippingExisting(singles, on: connection)
        return try await stored
            + insertBatchMembersSkippingExisting(
                members,
                batches: batches,
                entries: entries,
                on: connection
            )
    }

    private func insertSinglesSkippingExisting(
        _ messages: [NewMessage],
        on connection: PostgresConnection
    ) async throws
        -> Int
    {
        guard !messages.isEmpty else { return 0 }
        let row = try await connection.query(
            """
            WITH inserted AS (
                INSERT INTO messages (recipient, id, sender, created_at, inbox_body, sentbox_body, inbox_body_hash,
                                      sentbox_body_hash, signature)
                SELECT * FROM unnest(
                    \(PostgresArray(messages.map(\.recipient))), \(PostgresArray(messages.map(\.id))),
                    \(PostgresArray(messages.map(\.sender))), \(PostgresArray(messages.map(\.createdAt))),
                    \(PostgresArray(messages.map(\.inboxBody))), \(PostgresArray(messages.map(\.sentboxBody))),
                    \(PostgresArray(messages.map(\.inboxBodyHash))), \(PostgresArray(messages.map(\.sentboxBodyHash))),
                    \(PostgresArray(messages.map(\.signature))))
                ON CONFLICT DO NOTHING
                RETURNING recipient, id, created_at
            ), sizes AS (
                -- From the input: the worker may not read a body back, not even its length. A message twice in
                -- the input (a resend) is one row.
                SELECT DISTINCT ON (recipient, id) * FROM unnest(
                    \(PostgresArray(messages.map(\.recipient))), \(PostgresArray(messages.map(\.id))),
                    \(PostgresArray(messages.map { Int64($0.inboxBody.count) }))) AS s(recipient, id, size)
            ), usage AS (
                \(sql: Self.usageInsert)
                SELECT i.recipient, count(*), count(*), sum(s.size), now()
                FROM inserted i JOIN sizes s ON s.recipient = i.recipient AND s.id = i.id
                GROUP BY i.recipient ORDER BY i.recipient
                \(sql: Self.usageAdd)
            ), per_minute AS (
                \(sql: Self.storedPerMinute) SELECT date_trunc('minute', now()), pg_backend_pid(), count(*) FROM inserted
                HAVING count(*) > 0
                ON CONFLICT (minute, backend) DO UPDATE SET messages = s.messages + excluded.messages
            ), latency AS (
                \(sql: Self.latencyPerMinute) FROM inserted) r GROUP BY 1, 3 ORDER BY 3
                ON CONFLICT (minute, backend, bucket) DO UPDATE SET messages = l.messages + excluded.messages
            )
            SELECT count(*) FROM inserted
            """
        ).single()
        return Int(try row.decode(Int64.self, column: 0))
    }

    /// Inserts batch recipients' messages whose (recipient, id) is free (with their path unless their batch's
    /// recipient list is stored), with the insert rollups and the batches' counters computed from the rows
    /// actually inserted; returns how many.
    private func insertBatchMembersSkippingExisting(
        _ messages: [NewMessage],
        batches: [PreparedBatch.BatchKey: BatchState],
        entries payloads: [PreparedBatch.BatchEntry],
        on connection: PostgresConnection
    ) async throws
        -> Int
    {
        guard !messages.isEmpty else { return 0 }
        let paths: [[UInt8]?] = messages.map { m in
            guard let batch = m.batch else { return nil }
            let state = batches[PreparedBatch.BatchKey(sender: m.sender, batchID: batch.batchID)]
            return state?.hasRecipients ?? false ? nil : batch.path
        }
        let row = try await connection.query(
            """
            WITH inserted AS (
                INSERT INTO messages (recipient, id, sender, created_at, inbox_body, batch_id, batch_index)
                SELECT * FROM unnest(
                    \(PostgresArray(messages.map(\.recipient))), \(PostgresArray(messages.map(\.id))),
                    \(PostgresArray(messages.map(\.sender))), \(PostgresArray(messages.map(\.createdAt))),
                    \(PostgresArray(messages.map(\.inboxBody))), \(PostgresArray(messages.map { $0.batch?.batchID })),
                    \(PostgresArray(messages.map { $0.batch?.index })))
                ON CONFLICT DO NOTHING
                RETURNING recipient, id, sender, batch_id, batch_index, created_at
            ), paths AS (
                INSERT INTO message_batch_paths (sender, batch_id, batch_index, path)
                SELECT i.sender, i.batch_id, i.batch_index, p.path
                FROM inserted i JOIN unnest(
                    \(PostgresArray(messages.map(\.recipient))), \(PostgresArray(messages.map(\.id))),
                    \(PostgresArray(paths))) AS p(recipient, id, path) ON p.recipient = i.recipient AND p.id = i.id
                WHERE p.path IS NOT NULL
                ON CONFLICT DO NOTHING
            ), sizes AS (
                -- From the input: the worker may not read a body back, not even its length. A message twice in
                -- the input (a resend) is one row.
                SELECT DISTINCT ON (recipient, id) * FROM unnest(
                    \(PostgresArray(messages.map(\.recipient))), \(PostgresArray(messages.map(\.id))),
                    \(PostgresArray(messages.map { Int64($0.inboxBody.count) }))) AS s(recipient, id, size)
            ), usage AS (
                \(sql: Self.usageInsert)
                SELECT i.recipient, count(*), count(*), sum(s.size), now()
                FROM inserted i JOIN sizes s ON s.recipient = i.recipient AND s.id = i.id
                GROUP BY i.recipient ORDER BY i.recipient
                \(sql: Self.usageAdd)
            ), counted AS (
                SELECT i.sender, i.batch_id, count(*)::integer AS n, (array_agg(p.payload))[1] AS payload
                FROM inserted i LEFT JOIN unnest(
                    \(PostgresArray(payloads.map(\.sender))), \(PostgresArray(payloads.map(\.batchID))),
                    \(PostgresArray(payloads.map(\.payload)))) AS p(sender, batch_id, payload)
                  ON p.sender = i.sender AND p.batch_id = i.batch_id
                GROUP BY i.sender, i.batch_id
            ), stored AS (
                SELECT mailroom_batches_stored(
                    ARRAY(SELECT sender FROM counted ORDER BY sender, batch_id),
                    ARRAY(SELECT batch_id FROM counted ORDER BY sender, batch_id),
                    ARRAY(SELECT n FROM counted ORDER BY sender, batch_id),
                    ARRAY(SELECT payload FROM counted ORDER BY sender, batch_id))
            ), per_minute AS (
                \(sql: Self.storedPerMinute) SELECT date_trunc('minute', now()), pg_backend_pid(), count(*) FROM inserted
                HAVING count(*) > 0
                ON CONFLICT (minute, backend) DO UPDATE SET messages = s.messages + excluded.messages
            ), latency AS (
                \(sql: Self.latencyPerMinute) FROM inserted) r GROUP BY 1, 3 ORDER BY 3
                ON CONFLICT (minute, backend, bucket) DO UPDATE SET messages = l.messages + excluded.messages
            )
            SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM stored)
            """
        ).single()
        return Int(try row.decode(Int64.self, column: 0))
    }

    /// Indexes of messages whose (owner, id) already holds a different message, in either box: for a single
    /// message another signature, for a batch recipient's another batch or leaf (a batch's records share their
    /// signature).
    private func clashes(_ messages: [NewMessage], on connection: PostgresConnection) async throws -> [Int] {
        let rows = try await connection.query(
            """
            SELECT b.ord - 1 FROM unnest(
                \(PostgresArray(messages.map(\.id))), \(PostgresArray(messages.map(\.recipient))),
                \(PostgresArray(messages.map(\.sender))),
                \(PostgresArray(messages.map { $0.batch == nil ? $0.signature : nil })),
                \(PostgresArray(messages.map { $0.batch?.batchID })), \(PostgresArray(messages.map { $0.batch?.index }))
            ) WITH ORDINALITY AS b(id, recipient, sender, signature, batch_id, batch_index, ord)
            WHERE EXISTS (SELECT 1 FROM messages m
                          WHERE m.recipient = b.recipient AND m.id = b.id
                            AND (m.sender <> b.sender OR m.signature IS DISTINCT FROM b.signature
                                 OR m.batch_id IS DISTINCT FROM b.batch_id
                                 OR m.batch_index IS DISTINCT FROM b.batch_index))
               OR (b.batch_id IS NULL
                   AND EXISTS (SELECT 1 FROM messages s
                               WHERE s.sender = b.sender AND s.id = b.id AND s.batch_id IS NULL
                                 AND s.signature <> b.signature))
            """
        )
        return try rows.map { Int(try $0.decode(Int64.self, column: 0)) }
    }

    /// A limit a new message would pass.
    enum PassedLimit {
        case messages
        case bytes
        case senderShare

        var reason: String {
            switch self {
            case .messages: MessageWriter.mailboxFullReason
            case .bytes: MessageWriter.mailboxBytesFullReason
            case .senderShare: MessageWriter.senderShareFullReason
            }
        }

        var detail: String {
            switch self {
            case .messages: "the recipient's mailbox holds its quota of messages"
            case .bytes: "the recipient's mailbox would pass its quota of bytes"
            case .senderShare: "the sender holds its share of the recipient's mailbox quota"
            }
        }
    }

    /// The messages that would take their recipient's inbox past its quota of messages or bytes, or their sender
    /// past its share of it, with the limit each passes: decided in batch order, counting only messages not
    /// stored already (a redelivery is never refused), not refused themselves, and each message once however
    /// often the batch holds it.
    ///
    /// The counts it starts from are `mailbox_usage`'s, kept in the same transaction as the rows (by the batch
    /// statement for inserts, by triggers for reads and deletes), and, where the sender cap may bind (the inbox
    /// would hold more messages than the cap), the sender's messages in the inbox. One worker owns a
    /// recipient's partition, so the check and the insert see the same counts; during a rebalance two workers may
    /// both pass the last free place, and the inbox ends a batch over its quota.
    private func overQuota(
        _ messages: [NewMessage],
        on connection: PostgresConnection
    ) async throws
        -> [(index: Int, limit: PassedLimit)]
    {
        guard !messages.isEmpty else { return [] }
        // Without a default, a mailbox's own `max_messages` and `max_bytes` still apply.
        let quota = mailboxQuota ?? .max
        let byteQuota = mailboxByteQuota ?? .max
        let share = senderSharePercent ?? 100
        let rows = try await connection.query(
            """
            WITH b AS (
                -- A message sent twice in one batch counts once, at its first place: the later copies are
                -- redeliveries, never counted, never refused.
                SELECT DISTINCT ON (b.recipient, b.id) b.ord, b.recipient, b.sender, b.size
                FROM unnest(
                    \(PostgresArray(messages.map(\.id))), \(PostgresArray(messages.map(\.recipient))),
                    \(PostgresArray(messages.map(\.sender))), \(PostgresArray(messages.map { Int64($0.inboxBody.count) }))
                ) WITH ORDINALITY AS b(id, recipient, sender, size, ord)
                WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.recipient = b.recipient AND m.id = b.id)
                ORDER BY b.recipient, b.id, b.ord
            ), r AS (
                SELECT c.recipient, coalesce(u.messages, 0) AS messages, coalesce(u.bytes, 0) AS bytes,
                       coalesce(u.max_messages, \(quota)) AS max_messages, coalesce(u.max_bytes, \(byteQuota)) AS max_bytes,
                       greatest(floor(coalesce(u.max_messages, \(quota))::numeric * \(share) / 100), 1)::bigint AS cap,
                       c.incoming
                FROM (SELECT recipient, count(*) AS incoming FROM b GROUP BY recipient) c
                LEFT JOIN mailbox_usage u ON u.owner = c.recipient
            ), pairs AS (
                SELECT DISTINCT b.recipient, b.sender FROM b JOIN r USING (recipient)
                WHERE \(senderSharePercent != nil) AND b.sender <> b.recipient AND r.messages + r.incoming > r.cap
            ), held AS (
                SELECT h.recipient, h.sender, h.held AS n FROM mailroom_inbox_held(
                    ARRAY(SELECT recipient FROM pairs ORDER BY recipient, sender),
                    ARRAY(SELECT sender FROM pairs ORDER BY recipient, sender)) h
            )
            SELECT b.ord - 1, b.size, r.messages, r.bytes, r.max_messages, r.max_bytes, r.cap, held.n
            FROM b JOIN r USING (recipient) LEFT JOIN held USING (recipient, sender)
            ORDER BY b.ord
            """
        )
        struct Inbox {
            var messages: Int64
            var bytes: Int64
        }
        var inboxes: [[UInt8]: Inbox] = [:]
        var held: [[UInt8]: Int64] = [:]
        var passed: [(index: Int, limit: PassedLimit)] = []
        for row in rows {
            let (ord, size, messageCount, byteCount, maxMessages, maxBytes, cap) = try row.decode(
                Int64.self,
                Int64.self,
                Int64.self,
                Int64.self,
                Int64.self,
                Int64.self,
                Int64.self
            )
            let index = Int(ord)
            let message = messages[index]
            var inbox = inboxes[message.recipient] ?? Inbox(messages: messageCount, bytes: byteCount)
            let pair = message.recipient + message.sender
            // NULL: the cap cannot bind for this pair (or there is none).
            let senderHeld = try held[pair] ?? row.decode(Int64?.self, column: 7)
            if inbox.messages + 1 > maxMessages {
                passed.append((index, .messages))
            } else if inbox.bytes + size > maxBytes {
                passed.append((index, .bytes))
            } else if let senderHeld, senderHeld + 1 > cap {
                passed.append((index, .senderShare))
            } else {
                inbox.messages += 1
                inbox.bytes += size
                if let senderHeld { held[pair] = senderHeld + 1 }
            }
            inboxes[message.recipient] = inbox
            if let senderHeld, held[pair] == nil { held[pair] = senderHeld }
        }
        return passed
    }

    private static func removing(_ indexes: [Int], from messages: [NewMessage]) -> [NewMessage] {
        let drop = Set(indexes)
        return messages.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
    }

    /// Records rejections, once per Kafka record.
    private func record(_ rejections: [Rejection], on connection: PostgresConnection) async throws -> Int {
        guard !rejections.isEmpty else { return 0 }
        let result = try await connection.query(
            """
            INSERT INTO rejected_envelopes
                (topic, kafka_partition, kafka_offset, reason, detail, message_id, sender, recipient,
                 envelope_bytes, worker)
            SELECT * FROM unnest(
                \(PostgresArray(rejections.map(\.source.topic))),
                \(PostgresArray(rejections.map { Int32($0.source.partition) })),
                \(PostgresArray(rejections.map(\.source.offset))),
                \(PostgresArray(rejections.map(\.reason))), \(PostgresArray(rejections.map(\.detail))),
                \(PostgresArray(rejections.map(\.messageID))), \(PostgresArray(rejections.map(\.sender))),
                \(PostgresArray(rejections.map(\.recipient))),
                \(PostgresArray(rejections.map { Int32(clamping: $0.envelopeBytes) })),
                \(PostgresArray(rejections.map(\.worker)))
            )
            ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING
            """
        )
        return result.affectedRows
    }
}

/// Thrown inside the fast path's transaction to roll it back when a mailbox went over its quota.
private struct TakeCarefulPath: Error {}

/// Thrown inside the transaction to roll it back when clashing envelopes must be left out.
private struct RetryWithoutClashes: Error {
    /// The Kafka records of the clashing envelopes.
    var ids: Set<RecordSource>
}
