import Foundation
public import MailroomPostgres

/// The worker's write path: one transaction per batch, idempotent, with one NOTIFY per batch.
///
/// Each batch is a handful of statements whatever its size: the messages travel as binary arrays and are
/// unnested into both tables by one `INSERT … SELECT … ON CONFLICT DO NOTHING` (docs/ARCHITECTURE.md says why
/// this beat per-row inserts and COPY through a staging table here). A redelivered envelope changes nothing —
/// in particular not `read_at`. A *different* envelope that reuses an existing (owner, id) is not written and
/// comes back as a `duplicate_message_id` rejection.
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

    /// The default most messages an inbox may hold (a mailbox's own `mailbox_usage.max_messages` overrides
    /// it); `nil` means no default limit (a mailbox's own limit still applies).
    public var mailboxQuota: Int64?

    /// - Parameter mailboxQuota: the default most messages an inbox may hold; `nil` for no limit.
    public init(mailboxQuota: Int64? = nil) {
        self.mailboxQuota = mailboxQuota
    }

    /// Which of these public keys have a mailbox.
    public func existingMailboxes(_ owners: some Collection<[UInt8]>, on connection: PostgresConnection) async throws
        -> Set<[UInt8]>
    {
        let unique = Array(Set(owners))
        guard !unique.isEmpty else { return [] }
        let rows = try await connection.query(
            "SELECT owner FROM mailboxes WHERE owner = ANY(\(PostgresArray(unique)))")
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
        _ messages: [NewMessage], rejections: [Rejection], worker: String, progress: [PartitionProgress] = [],
        on connection: PostgresConnection
    ) async throws -> Outcome {
        var toWrite = messages
        var conflicts: [Rejection] = []
        while true {
            do {
                return try await connection.withTransaction { connection -> Outcome in
                let full = try await overQuota(toWrite, on: connection)
                let refused = full.map { index in
                    let message = toWrite[index]
                    return Rejection(
                        source: message.source, reason: Self.mailboxFullReason,
                        detail: "the recipient's mailbox holds its quota of messages",
                        messageID: message.id, sender: message.sender, recipient: message.recipient,
                        envelopeBytes: 0, worker: worker)
                }
                let toWrite = full.isEmpty ? toWrite : Self.removing(full, from: toWrite)
                let (inbox, sentbox) = try await insert(toWrite, on: connection)
                if (inbox < toWrite.count || sentbox < toWrite.count) {
                    let clashing = try await clashes(toWrite, on: connection)
                    if !clashing.isEmpty {
                        // Roll back and write the batch again without the clashing envelopes.
                        conflicts += clashing.map { index in
                            let message = toWrite[index]
                            return Rejection(
                                source: message.source, reason: Self.duplicateMessageIDReason,
                                detail: "another message with this id is already stored for the sender or recipient",
                                messageID: message.id, sender: message.sender, recipient: message.recipient,
                                envelopeBytes: 0, worker: worker)
                        }
                        throw RetryWithoutClashes(ids: Set(clashing.map { toWrite[$0].source }))
                    }
                }
                let recorded = try await record(rejections + conflicts + refused, on: connection)
                try await recordProgress(progress, worker: worker, on: connection)
                let owners = toWrite.map(\.recipient)
                for payload in MailboxNotification.payloads(box: .inbox, event: .created, owners: owners) {
                    try await connection.query("SELECT pg_notify(\(MailboxNotification.channel), \(payload))")
                }
                for payload in MailboxNotification.payloads(box: .sentbox, event: .created, owners: toWrite.map(\.sender)) {
                    try await connection.query("SELECT pg_notify(\(MailboxNotification.channel), \(payload))")
                }
                return Outcome(
                    stored: inbox, redelivered: toWrite.count - inbox, conflicts: conflicts + refused,
                    rejectionsRecorded: recorded)
                }
            } catch let retry as RetryWithoutClashes {
                toWrite.removeAll { retry.ids.contains($0.source) }
                continue
            }
        }
    }

    /// Inserts both rows of every message; returns how many inbox and sentbox rows were new.
    private func insert(_ messages: [NewMessage], on connection: PostgresConnection) async throws -> (Int, Int) {
        guard !messages.isEmpty else { return (0, 0) }
        let row = try await connection.query(
            """
            WITH batch AS (
                SELECT * FROM unnest(
                    \(PostgresArray(messages.map(\.id))), \(PostgresArray(messages.map(\.sender))),
                    \(PostgresArray(messages.map(\.recipient))), \(PostgresArray(messages.map(\.createdAt))),
                    \(PostgresArray(messages.map(\.inboxBody))), \(PostgresArray(messages.map(\.sentboxBodyHash))),
                    \(PostgresArray(messages.map(\.sentboxBody))), \(PostgresArray(messages.map(\.inboxBodyHash))),
                    \(PostgresArray(messages.map(\.signature)))
                ) AS b(id, sender, recipient, created_at, inbox_body, sentbox_body_hash, sentbox_body,
                       inbox_body_hash, signature)
            ), inbox AS (
                INSERT INTO inbox_messages (owner, id, sender, created_at, body, sentbox_body_hash, signature)
                SELECT recipient, id, sender, created_at, inbox_body, sentbox_body_hash, signature FROM batch
                ON CONFLICT (owner, id) DO NOTHING
                RETURNING 1
            ), sentbox AS (
                INSERT INTO sentbox_messages (owner, id, recipient, created_at, body, inbox_body_hash, signature)
                SELECT sender, id, recipient, created_at, sentbox_body, inbox_body_hash, signature FROM batch
                ON CONFLICT (owner, id) DO NOTHING
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM sentbox)
            """
        ).single()
        let (inbox, sentbox) = try row.decode(Int64.self, Int64.self)
        return (Int(inbox), Int(sentbox))
    }

    /// Indexes of messages whose (owner, id) already holds a different message, in either box.
    private func clashes(_ messages: [NewMessage], on connection: PostgresConnection) async throws -> [Int] {
        let rows = try await connection.query(
            """
            SELECT b.ord - 1 FROM unnest(
                \(PostgresArray(messages.map(\.id))), \(PostgresArray(messages.map(\.recipient))),
                \(PostgresArray(messages.map(\.sender))), \(PostgresArray(messages.map(\.signature)))
            ) WITH ORDINALITY AS b(id, recipient, sender, signature, ord)
            WHERE EXISTS (SELECT 1 FROM inbox_messages m
                          WHERE m.owner = b.recipient AND m.id = b.id AND m.signature <> b.signature)
               OR EXISTS (SELECT 1 FROM sentbox_messages s
                          WHERE s.owner = b.sender AND s.id = b.id AND s.signature <> b.signature)
            """)
        return try rows.map { Int(try $0.decode(Int64.self, column: 0)) }
    }

    /// Indexes of messages that would take their recipient's inbox past its quota, counting, in batch order,
    /// only messages not stored already (a redelivery is never refused).
    ///
    /// The count it compares with is `mailbox_usage.messages`, kept by a trigger in the same transaction as the
    /// rows. One worker owns a recipient's partition, so the check and the insert see the same count; during a
    /// rebalance two workers may both pass the last free place, and the inbox ends a batch over its quota.
    private func overQuota(_ messages: [NewMessage], on connection: PostgresConnection) async throws -> [Int] {
        guard !messages.isEmpty else { return [] }
        // Without a default, a mailbox's own `max_messages` still applies.
        let quota = mailboxQuota ?? .max
        let rows = try await connection.query(
            """
            SELECT b.ord - 1 FROM (
                SELECT b.recipient, b.ord, row_number() OVER (PARTITION BY b.recipient ORDER BY b.ord) AS n
                FROM unnest(\(PostgresArray(messages.map(\.id))), \(PostgresArray(messages.map(\.recipient))))
                     WITH ORDINALITY AS b(id, recipient, ord)
                WHERE NOT EXISTS (SELECT 1 FROM inbox_messages m WHERE m.owner = b.recipient AND m.id = b.id)
            ) b
            LEFT JOIN mailbox_usage u ON u.owner = b.recipient
            WHERE coalesce(u.messages, 0) + b.n > coalesce(u.max_messages, \(quota))
            ORDER BY b.ord
            """)
        return try rows.map { Int(try $0.decode(Int64.self, column: 0)) }
    }

    private static func removing(_ indexes: [Int], from messages: [NewMessage]) -> [NewMessage] {
        let drop = Set(indexes)
        return messages.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
    }

    /// Upserts one `worker_progress` row per partition. Offsets and high-water marks only move forward, so a
    /// worker that lost a partition in a rebalance and writes its last batch late cannot move them back.
    private func recordProgress(
        _ progress: [PartitionProgress], worker: String, on connection: PostgresConnection
    ) async throws {
        guard !progress.isEmpty else { return }
        let sorted = progress.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        try await connection.query(
            """
            INSERT INTO worker_progress AS p
                (consumer_group, topic, kafka_partition, next_offset, high_watermark, worker)
            SELECT g, t, k, o, h, \(worker) FROM unnest(
                \(PostgresArray(sorted.map(\.consumerGroup))), \(PostgresArray(sorted.map(\.topic))),
                \(PostgresArray(sorted.map(\.partition))), \(PostgresArray(sorted.map(\.nextOffset))),
                \(PostgresArray(sorted.map(\.highWatermark)))
            ) AS b(g, t, k, o, h)
            ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE
                SET next_offset = greatest(p.next_offset, excluded.next_offset),
                    high_watermark = greatest(p.high_watermark, excluded.high_watermark),
                    worker = excluded.worker, updated_at = now()
            """)
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
            """)
        return result.affectedRows
    }
}

/// Thrown inside the transaction to roll it back when clashing envelopes must be left out.
private struct RetryWithoutClashes: Error {
    /// The Kafka records of the clashing envelopes.
    var ids: Set<RecordSource>
}
