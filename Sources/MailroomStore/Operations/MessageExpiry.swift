public import Foundation
public import Logging
public import MailroomPostgres

/// Deletes messages stored longer ago than a time-to-live, and tombstones older than the redelivery window, a
/// bounded batch at a time.
///
/// A message deleted from both boxes stays as a tombstone (its row with both bodies cleared, migration 0006), so
/// that a redelivery of its envelope is recognised and not stored again. The worker refuses envelopes created
/// longer ago than its maximum envelope age (`envelope_too_old`), so a tombstone is needed only within
/// ``Configuration/redeliveryWindow`` of its message's creation: expired messages younger than that become
/// tombstones, older ones go entirely, and tombstones past the window are removed.
///
/// Each batch is its own short transaction: one statement finds rows through the BRIN index on `stored_at`
/// (migration 0005; rows arrive in `stored_at` order, so the old ones sit in the first block ranges) and
/// expires them by primary key. No statement holds more than ``Configuration/batchSize`` row locks or runs for
/// long (readers are never blocked; a reader marking one of those rows read waits for one batch at most), and
/// the triggers keep `mailbox_usage` right as copies go. Two runs at once are harmless: a row the other run
/// took first is skipped. A message's inbox and sentbox copies share one row and one `stored_at`, so they
/// expire together. A batch's sentbox entry (envelope format v2) expires by its own `stored_at`, and a batch row
/// goes once its last recipient row's tombstone is pruned and nothing of it is left. The role running it needs only
/// EXECUTE on the functions of migrations 0006 and 0011.
public struct MessageExpiry: Sendable {
    /// What to delete and how fast.
    public struct Configuration: Sendable {
        /// Messages stored longer ago than this are deleted.
        public var timeToLive: Duration = .seconds(365 * 24 * 3600)
        /// How long after a message's creation its envelope may still be redelivered and accepted: at least
        /// the worker's maximum envelope age plus its maximum clock skew. Tombstones are kept this long.
        public var redeliveryWindow: Duration = MessageExpiry.defaultRedeliveryWindow
        /// Rows changed per transaction at most.
        public var batchSize: Int = 5_000
        /// A pause between batches, to leave I/O to the worker on a busy server.
        public var pause: Duration = .zero
        /// Stop after this many expired rows, and as many pruned tombstones (`nil`: until none is left), e.g. to
        /// spread a backlog over runs.
        public var limit: Int?

        public init() {}
    }

    /// 8 days: the worker's default maximum envelope age (7 days, Kafka's default retention) plus a day.
    public static let defaultRedeliveryWindow: Duration = .seconds(8 * 24 * 3600)

    /// What a run did.
    public struct Report: Sendable, Equatable {
        /// Inbox and sentbox copies expired (their bodies are gone).
        public var inboxDeleted = 0
        public var sentboxDeleted = 0
        /// Of the expired rows, those kept as tombstones (created inside the redelivery window).
        public var tombstoned = 0
        /// Tombstones removed because their message was created before the redelivery window.
        public var tombstonesPruned = 0
        /// Sentbox entries of batches (envelope format v2) expired: the sender's body is gone.
        public var batchEntriesExpired = 0
        /// Batch rows removed: no recipient row refers to them any more (their tombstones were pruned) and nothing
        /// of them is left.
        public var batchesRemoved = 0
        /// Transactions that changed at least one row.
        public var batches = 0
        /// The cut-off: rows stored before it were expired.
        public var cutoff: Date
        /// Tombstones of messages stored and created before this were removed.
        public var tombstoneCutoff: Date

        public init(cutoff: Date, tombstoneCutoff: Date) {
            self.cutoff = cutoff
            self.tombstoneCutoff = tombstoneCutoff
        }
    }

    public var configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "mailroom.expire")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Expires every message past its time-to-live and removes every tombstone past the redelivery window,
    /// ``Configuration/batchSize`` rows per transaction.
    /// - Parameters:
    ///   - now: the current time (a parameter so tests can move the clock).
    ///   - connection: a connection outside any transaction.
    /// - Throws: ``PostgresError``; the batches already committed stay done.
    public func run(now: Date = Date(), on connection: PostgresConnection) async throws -> Report {
        let cutoff = now.addingTimeInterval(-Double(configuration.timeToLive.milliseconds) / 1000)
        let windowStart = now.addingTimeInterval(-Double(configuration.redeliveryWindow.milliseconds) / 1000)
        var report = Report(cutoff: cutoff, tombstoneCutoff: windowStart)
        let batchSize = max(1, configuration.batchSize)
        var expired = 0
        while true {
            let want = min(batchSize, (configuration.limit ?? .max) - expired)
            if want <= 0 { break }
            let row = try await connection.query(
                "SELECT * FROM mailroom_expire_messages(\(cutoff), \(windowStart), \(Int32(clamping: want)))"
            ).single()
            let (rows, kept, inbox, sentbox) = try row.decode(Int64.self, Int64.self, Int64.self, Int64.self)
            if rows == 0 { break }
            expired += Int(rows)
            report.inboxDeleted += Int(inbox)
            report.sentboxDeleted += Int(sentbox)
            report.tombstoned += Int(kept)
            report.batches += 1
            logger.debug("expired a batch", metadata: ["rows": "\(rows)", "tombstoned": "\(kept)"])
            if rows < want { break }
            try await pause()
        }
        while true {
            let want = min(batchSize, (configuration.limit ?? .max) - report.tombstonesPruned)
            if want <= 0 { break }
            let pruned = try await connection.query(
                "SELECT mailroom_prune_tombstones(\(windowStart), \(Int32(clamping: want)))"
            ).single().decode(Int64.self, column: 0)
            if pruned == 0 { break }
            report.tombstonesPruned += Int(pruned)
            report.batches += 1
            if pruned < want { break }
            try await pause()
        }
        // Batches last: pruning tombstones above is what leaves a batch row with no recipient row.
        while true {
            let want = min(batchSize, (configuration.limit ?? .max) - report.batchEntriesExpired)
            if want <= 0 { break }
            let row = try await connection.query(
                "SELECT * FROM mailroom_expire_batches(\(cutoff), \(windowStart), \(Int32(clamping: want)))"
            ).single()
            let (copies, removed) = try row.decode(Int64.self, Int64.self)
            if copies == 0 && removed == 0 { break }
            report.batchEntriesExpired += Int(copies)
            report.batchesRemoved += Int(removed)
            report.batches += 1
            if copies < want && removed < want { break }
            try await pause()
        }
        logger.info(
            "expiry done",
            metadata: [
                "inbox": "\(report.inboxDeleted)", "sentbox": "\(report.sentboxDeleted)",
                "tombstoned": "\(report.tombstoned)", "tombstones_pruned": "\(report.tombstonesPruned)",
                "batch_entries_expired": "\(report.batchEntriesExpired)", "batches_removed": "\(report.batchesRemoved)",
                "batches": "\(report.batches)",
            ]
        )
        return report
    }

    private func pause() async throws {
        if configuration.pause > .zero { try await Task.sleep(for: configuration.pause) }
    }
}
