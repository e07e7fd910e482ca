import Logging
import MailroomCore
import MailroomPostgres
import MailroomStore

/// The mailbox and block lookups of the batch to be written next, made on a database connection of its own while
/// the batch before it is being written, so that the write's connection (and the commit, which is serial) does
/// nothing but write.
///
/// An optimisation only: ``lookUp(owners:recipients:)`` answers nil when it cannot answer (PostgreSQL down, the
/// connection lost, the task cancelled), and the commit then looks up on its own connection, where a failure is
/// waited out as for the write. After a failure it answers nil at once for ``retryAfter`` before it connects again.
///
/// Answers are as fresh as the moment they were read: mailboxes are never deleted, so a mailbox found stays found;
/// a block made after the lookup applies from the next batch looked up.
actor BatchLookahead {
    /// What the lookups found.
    struct Answers: Sendable {
        /// The keys looked up; of those, the ones that have a mailbox.
        var asked: Set<PublicKey>
        var found: Set<PublicKey>
        /// The recipients whose blocks were read; the blocked (recipient ++ sender) pairs among them.
        var blockRecipients: Set<[UInt8]>
        var blocked: Set<[UInt8]>
    }

    static let retryAfter: Duration = .seconds(1)

    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?
    private var failedAt: ContinuousClock.Instant?

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Which of `owners` have a mailbox, and which (recipient ++ sender) pairs `recipients` have blocked; nil when
    /// the lookups could not be made (the caller makes them itself).
    func lookUp(owners: Set<PublicKey>, recipients: Set<[UInt8]>) async -> Answers? {
        if let failedAt, ContinuousClock.now - failedAt < Self.retryAfter { return nil }
        do {
            let connection: PostgresConnection
            if let live = self.connection, live.isConnected {
                connection = live
            } else {
                await close()
                connection = try await PostgresConnection.connect(configuration, logger: logger)
                self.connection = connection
            }
            let existing = try await MessageWriter.existingMailboxes(owners.map(\.bytes), on: connection)
            let blocked = try await BlockQueries.blockedPairs(recipients: Array(recipients), on: connection)
            failedAt = nil
            return Answers(
                asked: owners,
                found: owners.filter { existing.contains($0.bytes) },
                blockRecipients: recipients,
                blocked: blocked
            )
        } catch {
            if !Task.isCancelled {
                logger.warning(
                    "lookahead lookups failed; the writes look up on their own connection",
                    metadata: ["error": "\(error)"]
                )
            }
            failedAt = .now
            await close()
            return nil
        }
    }

    /// Closes the connection (the worker's last step; a later lookup connects again).
    func close() async {
        if let connection { await connection.close() }
        connection = nil
    }
}
