public import Foundation
public import Logging
public import MailroomPostgres

/// Deletes messages stored longer ago than a time-to-live, a bounded batch at a time.
///
/// Each batch is its own short transaction: one statement finds expired rows through the BRIN index on
/// `stored_at` (migration 0005; rows arrive in `stored_at` order, so the old ones sit in the first block
/// ranges), deletes them by primary key, and commits. No statement holds more than ``Configuration/batchSize``
/// row locks or runs for long (readers are never blocked; a reader marking one of those rows read waits for one
/// batch at most), and the delete trigger keeps `mailbox_usage` right as rows go. Two runs at once are
/// harmless: a row the other run deleted first is skipped. A message's inbox and sentbox copies share one row
/// and one `stored_at`, so they expire together.
public struct MessageExpiry: Sendable {
    /// What to delete and how fast.
    public struct Configuration: Sendable {
        /// Messages stored longer ago than this are deleted.
        public var timeToLive: Duration = .seconds(365 * 24 * 3600)
        /// Rows deleted per transaction at most.
        public var batchSize: Int = 5_000
        /// A pause between batches, to leave I/O to the worker on a busy server.
        public var pause: Duration = .zero
        /// Stop after this many rows per box (`nil`: until none is left), e.g. to spread a backlog over runs.
        public var limit: Int?

        public init() {}
    }

    /// What a run deleted.
    public struct Report: Sendable, Equatable {
        public var inboxDeleted = 0
        public var sentboxDeleted = 0
        /// Transactions that deleted at least one row.
        public var batches = 0
        /// The cut-off: rows stored before it were expired.
        public var cutoff: Date

        public init(cutoff: Date) { self.cutoff = cutoff }
    }

    public var configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "mailroom.expire")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Deletes every expired message in both boxes, ``Configuration/batchSize`` rows per transaction.
    /// - Parameters:
    ///   - now: the current time (a parameter so tests can move the clock).
    ///   - connection: a connection outside any transaction.
    /// - Throws: ``PostgresError``; the batches already committed stay deleted.
    public func run(now: Date = Date(), on connection: PostgresConnection) async throws -> Report {
        let ttl = configuration.timeToLive.components
        let cutoff = now.addingTimeInterval(-(Double(ttl.seconds) + Double(ttl.attoseconds) / 1e18))
        var report = Report(cutoff: cutoff)
        var total = 0
        while true {
            let want = min(max(1, configuration.batchSize), (configuration.limit ?? .max) - total)
            if want <= 0 { break }
            let (rows, inbox, sentbox) = try await deleteBatch(before: cutoff, limit: want, on: connection)
            if rows == 0 { break }
            total += rows
            report.inboxDeleted += inbox
            report.sentboxDeleted += sentbox
            report.batches += 1
            logger.debug("expired a batch", metadata: ["rows": "\(rows)"])
            if rows < want { break }
            if configuration.pause > .zero { try await Task.sleep(for: configuration.pause) }
        }
        logger.info(
            "expiry done",
            metadata: [
                "inbox": "\(report.inboxDeleted)", "sentbox": "\(report.sentboxDeleted)",
                "batches": "\(report.batches)",
            ])
        return report
    }

    /// Deletes up to `limit` messages stored before `cutoff`; returns the rows deleted and how many inbox and
    /// sentbox copies they still held.
    private func deleteBatch(before cutoff: Date, limit: Int, on connection: PostgresConnection)
        async throws -> (rows: Int, inbox: Int, sentbox: Int)
    {
        let row = try await connection.query(
            """
            WITH deleted AS (
                DELETE FROM messages m USING (
                    SELECT recipient, id FROM messages WHERE stored_at < \(cutoff) LIMIT \(Int64(limit))
                ) d WHERE m.recipient = d.recipient AND m.id = d.id
                RETURNING m.inbox_body IS NOT NULL AS inbox, m.sentbox_body IS NOT NULL AS sentbox
            )
            SELECT count(*), count(*) FILTER (WHERE inbox), count(*) FILTER (WHERE sentbox) FROM deleted
            """
        ).single()
        let (rows, inbox, sentbox) = try row.decode(Int64.self, Int64.self, Int64.self)
        return (Int(rows), Int(inbox), Int(sentbox))
    }
}
