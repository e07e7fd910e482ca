public import Foundation
public import Logging
public import MailroomPostgres

/// Deletes messages stored longer ago than a time-to-live, a bounded batch at a time.
///
/// Each batch is its own short transaction: one statement picks the oldest expired rows through the
/// `stored_at` index, deletes them by primary key, and commits. No statement holds more than
/// ``Configuration/batchSize`` row locks or runs for long (readers are never blocked; a reader marking one of
/// those rows read waits for one batch at most), and the triggers keep `mailbox_usage` right as rows go. Two
/// runs at once are harmless: a row the other run deleted first is skipped. Inbox and sentbox rows expire
/// independently: each box belongs to its own owner. (`FOR UPDATE SKIP LOCKED` would need UPDATE on the
/// sentbox, which the query role that runs expiry deliberately lacks.)
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
        for box in [Box.inbox, .sentbox] {
            var total = 0
            while true {
                let want = min(max(1, configuration.batchSize), (configuration.limit ?? .max) - total)
                if want <= 0 { break }
                let deleted = try await deleteBatch(box, before: cutoff, limit: want, on: connection)
                if deleted == 0 { break }
                total += deleted
                report.batches += 1
                logger.debug("expired a batch", metadata: ["box": "\(box)", "rows": "\(deleted)"])
                if deleted < want { break }
                if configuration.pause > .zero { try await Task.sleep(for: configuration.pause) }
            }
            if box == .inbox { report.inboxDeleted = total } else { report.sentboxDeleted = total }
        }
        logger.info(
            "expiry done",
            metadata: [
                "inbox": "\(report.inboxDeleted)", "sentbox": "\(report.sentboxDeleted)",
                "batches": "\(report.batches)",
            ])
        return report
    }

    private enum Box { case inbox, sentbox }

    private func deleteBatch(_ box: Box, before cutoff: Date, limit: Int, on connection: PostgresConnection)
        async throws -> Int
    {
        let result: PostgresRows
        switch box {
        case .inbox:
            result = try await connection.query(
                """
                DELETE FROM inbox_messages m USING (
                    SELECT owner, id FROM inbox_messages WHERE stored_at < \(cutoff)
                    ORDER BY stored_at LIMIT \(Int64(limit))
                ) d WHERE m.owner = d.owner AND m.id = d.id
                """)
        case .sentbox:
            result = try await connection.query(
                """
                DELETE FROM sentbox_messages m USING (
                    SELECT owner, id FROM sentbox_messages WHERE stored_at < \(cutoff)
                    ORDER BY stored_at LIMIT \(Int64(limit))
                ) d WHERE m.owner = d.owner AND m.id = d.id
                """)
        }
        return result.affectedRows
    }
}
