import Logging
import MailroomCore
import MailroomPostgres
import MailroomStore

/// The mailbox and block lookups of the batch to be written next, made on a database connection of its own while
/// the batch before it is being written, so that the write's connection (and the commit, which is serial) does
/// nothing but write.
///
/// An optimisation only: ``lookUp(owners:recipients:)`` answers nil when it cannot answer (PostgreSQL down, the
/// connection lost, a lookup running past ``statementTimeout``, the task cancelled, another lookup in progress,
/// or after ``close()``), and the commit then looks up on its own connection, where a failure is waited out as for
/// the write. After a failure it answers nil at once for ``retryAfter`` before it connects again.
///
/// Answers are as fresh as the moment they were read: mailboxes are never deleted, so a mailbox found stays found;
/// a commit sets aside answers older than ``maxAge`` (a write ahead of it waited out a failure) and looks up
/// itself, so a block applies to every batch committed more than ``maxAge`` after it.
actor BatchLookahead {
    /// What the lookups found.
    struct Answers: Sendable {
        /// The keys looked up; of those, the ones that have a mailbox.
        var asked: Set<PublicKey>
        var found: Set<PublicKey>
        /// The recipients whose blocks were read; the blocked (recipient ++ sender) pairs among them.
        var blockRecipients: Set<[UInt8]>
        var blocked: Set<[UInt8]>
        /// When they were read.
        var readAt: ContinuousClock.Instant

        /// Whether a commit may still use them (read at most ``BatchLookahead/maxAge`` ago).
        var isFresh: Bool { ContinuousClock.now - readAt <= BatchLookahead.maxAge }
    }

    static let retryAfter: Duration = .seconds(1)
    static let maxAge: Duration = .seconds(1)
    /// The session's `statement_timeout`: a lookup stuck behind a lock gives up, and the commit looks up itself.
    static let statementTimeout: Duration = .seconds(5)

    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?
    private var failedAt: ContinuousClock.Instant?
    /// A lookup is running (its awaits let another call in; that one answers nil rather than share the connection).
    private var busy = false
    private var closed = false

    /// The event loop its connection is opened on (the writer passes one other than its own, so that the
    /// lookups' results are not read by the thread that runs the commits).
    private let executor: any TaskExecutor

    init(
        configuration: PostgresConnection.Configuration,
        logger: Logger,
        executor: any TaskExecutor = PostgresConnection.nextExecutor()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.executor = executor
    }

    /// Which of `owners` have a mailbox, and which (recipient ++ sender) pairs `recipients` have blocked; nil when
    /// the lookups could not be made (the caller makes them itself).
    func lookUp(owners: Set<PublicKey>, recipients: Set<[UInt8]>) async -> Answers? {
        guard !closed, !busy else { return nil }
        if let failedAt, ContinuousClock.now - failedAt < Self.retryAfter { return nil }
        busy = true
        defer { busy = false }
        do {
            let connection: PostgresConnection
            if let live = self.connection, live.isConnected {
                connection = live
            } else {
                await drop()
                let fresh = try await withTaskExecutorPreference(executor) {
                    try await PostgresConnection.connect(configuration, logger: logger)
                }
                guard !closed else {
                    await fresh.close()
                    return nil
                }
                self.connection = fresh
                let milliseconds = Self.statementTimeout.components.seconds * 1000
                try await fresh.executeScript("SET statement_timeout = \(milliseconds)")
                connection = fresh
            }
            let existing = try await MessageWriter.existingMailboxes(owners.map(\.bytes), on: connection)
            let blocked = try await BlockQueries.blockedPairs(recipients: Array(recipients), on: connection)
            failedAt = nil
            return Answers(
                asked: owners,
                found: owners.filter { existing.contains($0.bytes) },
                blockRecipients: recipients,
                blocked: blocked,
                readAt: .now
            )
        } catch {
            if !Task.isCancelled {
                logger.warning(
                    "lookahead lookups failed; the writes look up on their own connection",
                    metadata: ["error": "\(error)"]
                )
            }
            failedAt = .now
            await drop()
            return nil
        }
    }

    /// Closes the connection for good (the worker's last step): later lookups answer nil.
    func close() async {
        closed = true
        await drop()
    }

    private func drop() async {
        if let connection { await connection.close() }
        connection = nil
    }
}
