import Foundation
import Logging
import MailroomCore
import MailroomEd25519
import MailroomKafka
import MailroomPostgres
import MailroomStore
import Metrics

/// The worker's write side: a verified batch's mailbox checks, blocks and limits, its one transaction, its dead
/// letters and its offsets, and the database connection they use.
///
/// An actor, so the compiler checks that its state (the connection, the paused flag, the grace clock, the
/// signature-check counters) is touched by one task at a time; batches are committed one at a time, in order
/// (``BatchLoop``). Cancelling the task that commits gives the batch up (``Abandoned``): its offsets are not
/// stored, so it is redelivered.
actor BatchWriter {
    private let configuration: WorkerConfiguration
    private let consumer: KafkaConsumer
    private let deadLetters: DeadLetterPublisher
    private let metrics: WorkerMetrics
    private let statistics: WorkerStatistics
    private let logger: Logger
    private let stop: StopFlag
    private let handler: RecordHandler
    private let writer: MessageWriter
    private nonisolated let mailboxes: MailboxCache
    /// The next batch's lookups, on a connection of their own (``lookAhead(_:)``).
    private nonisolated let lookahead: BatchLookahead
    private let limiter: RateLimiter
    private var connection: PostgresConnection?
    /// The PostgreSQL event loop that reads the writer's connection: a task that prefers it runs the writer's
    /// statements on the thread that reads their results, each resuming at once instead of through Swift's pool
    /// (whose threads prepare and verify the next batches meanwhile). ``BatchLoop`` commits there.
    nonisolated let executor = PostgresConnection.nextExecutor()
    private var paused = false

    /// A polled and verified batch, waiting to be written.
    struct VerifiedBatch: Sendable {
        var records: [KafkaRecord]
        var verdicts: [RecordHandler.Verdict]
    }

    /// Thrown when a shutdown gives up on the batch in hand (its offsets are not stored; it is redelivered).
    struct Abandoned: Error {}

    init(
        configuration: WorkerConfiguration,
        consumer: KafkaConsumer,
        deadLetters: DeadLetterPublisher,
        metrics: WorkerMetrics,
        statistics: WorkerStatistics,
        logger: Logger,
        stop: StopFlag,
        handler: RecordHandler
    ) {
        self.configuration = configuration
        self.consumer = consumer
        self.deadLetters = deadLetters
        self.metrics = metrics
        self.statistics = statistics
        self.logger = logger
        self.stop = stop
        self.handler = handler
        self.mailboxes = MailboxCache(capacity: configuration.mailboxCacheSize)
        // The loop after the writer's (loops are handed out in turn): on two cores, the other one.
        self.lookahead = BatchLookahead(
            configuration: configuration.postgresConnection,
            logger: logger,
            executor: PostgresConnection.nextExecutor()
        )
        self.limiter = RateLimiter(
            pair: configuration.pairRateLimit,
            sender: configuration.senderRateLimit,
            trackedKeys: configuration.rateLimitTrackedKeys
        )
        self.writer = MessageWriter(
            mailboxQuota: configuration.mailboxQuota,
            mailboxByteQuota: configuration.mailboxByteQuota,
            senderSharePercent: configuration.senderSharePercent
        )
    }

    /// Closes the database connections (the worker's last step).
    func closeDatabase() async {
        await closeWriteConnection()
        await lookahead.close()
    }

    private func closeWriteConnection() async {
        if let connection { await connection.close() }
        connection = nil
    }

    /// Makes `prepared`'s mailbox and block lookups on the lookahead connection, while the batch before it is
    /// being written; the commit makes whatever lookups this could not.
    nonisolated func lookAhead(_ prepared: PreparedCommit) async -> PreparedCommit {
        var prepared = prepared
        let unknown = mailboxes.unknown(among: prepared.owners)
        let recipients = Set(prepared.rows.recipients)
        guard !unknown.isEmpty || !recipients.isEmpty else { return prepared }
        prepared.lookups = await lookahead.lookUp(owners: unknown, recipients: recipients)
        return prepared
    }

    /// Writes `batch` (prepared by ``prepare(_:)``), reporting waits through `write`; returns whether its
    /// offsets were stored.
    func commit(_ batch: VerifiedBatch, _ prepared: PreparedCommit, reportingTo write: WriteInFlight) async -> Bool {
        currentWrite = write
        defer { currentWrite = nil }
        do {
            try await commit(batch, prepared)
            return true
        } catch {
            return false
        }
    }

    /// A verified batch sorted into what will be stored and what was refused, with its rows prepared on the
    /// assumption that every party has a mailbox (``commit(_:_:)`` checks, and prepares again if one has not).
    struct PreparedCommit: Sendable {
        var accepted: [Accepted]
        var rejected: [(Rejection, KafkaRecord)]
        /// Every sender and recipient of `accepted`: both must have a mailbox.
        var owners: Set<PublicKey>
        /// The rows of every accepted record (messages and sender copies in `accepted`'s order).
        var rows: PreparedBatch
        /// The lookups made ahead for `owners` and the recipients of `rows` (``lookAhead(_:)``), if they were.
        var lookups: BatchLookahead.Answers? = nil
    }

    /// An accepted record: a message (v1, or a batch recipient's) or a batch's sender copy.
    struct Accepted: Sendable {
        var sender: PublicKey
        /// Nil for a sender copy.
        var recipient: PublicKey?
        var id: MessageID
        var record: KafkaRecord
        var message: NewMessage?
        var senderCopy: NewSenderCopy?
    }

    /// The CPU side of a batch's write; needs no connection and touches no session state.
    static func prepare(_ batch: VerifiedBatch, worker: String) -> PreparedCommit {
        var accepted: [Accepted] = []
        var rejected: [(Rejection, KafkaRecord)] = []
        var messages: [NewMessage] = []
        var copies: [NewSenderCopy] = []
        var owners = Set<PublicKey>(minimumCapacity: 2 * batch.records.count)
        // The first head seen for each (sender, batch id): a record of another batch with the same id is refused.
        var heads: [HeadKey: [UInt8]] = [:]
        accepted.reserveCapacity(batch.records.count)
        messages.reserveCapacity(batch.records.count)
        for (verdict, record) in zip(batch.verdicts, batch.records) {
            let source = RecordSource(topic: record.topic, partition: record.partition, offset: record.offset)
            switch verdict {
            case .accepted(let envelope):
                let message = NewMessage(envelope, source: source)
                accepted.append(
                    Accepted(
                        sender: envelope.sender,
                        recipient: envelope.recipient,
                        id: envelope.id,
                        record: record,
                        message: message
                    )
                )
                owners.insert(envelope.recipient)
                owners.insert(envelope.sender)
                messages.append(message)
            case .acceptedBatchMember(let member):
                let sender = member.header.sender
                // The row first: its head is the one copy of the record's head the check keeps.
                let message = NewMessage(member, source: source)
                guard Self.firstHead(&heads, member.header, message.batch?.head ?? member.head) else {
                    rejected.append(
                        (Self.headClash(source, member.messageID, sender, member.recipient, worker), record)
                    )
                    continue
                }
                accepted.append(
                    Accepted(
                        sender: sender,
                        recipient: member.recipient,
                        id: member.messageID,
                        record: record,
                        message: message
                    )
                )
                owners.insert(member.recipient)
                owners.insert(sender)
                messages.append(message)
            case .acceptedSenderCopy(let copy):
                let sender = copy.header.sender
                let row = NewSenderCopy(copy, source: source)
                guard Self.firstHead(&heads, copy.header, row.head) else {
                    rejected.append((Self.headClash(source, copy.header.batchID, sender, nil, worker), record))
                    continue
                }
                accepted.append(
                    Accepted(sender: sender, recipient: nil, id: copy.header.batchID, record: record, senderCopy: row)
                )
                owners.insert(sender)
                copies.append(row)
            case .rejected(let rejection): rejected.append((rejection, record))
            }
        }
        return PreparedCommit(
            accepted: accepted,
            rejected: rejected,
            owners: owners,
            rows: PreparedBatch(messages, senderCopies: copies)
        )
    }

    /// A batch of a sender (both held inline: no allocation and no byte-by-byte hashing per record).
    private struct HeadKey: Hashable {
        var sender: PublicKey
        var batchID: MessageID
    }

    /// Whether `head` is the first (or the same as the first) seen for its batch's (sender, batch id).
    private static func firstHead(_ heads: inout [HeadKey: [UInt8]], _ header: BatchHeader, _ head: [UInt8]) -> Bool {
        let key = HeadKey(sender: header.sender, batchID: header.batchID)
        if let first = heads[key] { return first == head }
        heads[key] = head
        return true
    }

    private static func headClash(
        _ source: RecordSource,
        _ id: MessageID,
        _ sender: PublicKey,
        _ recipient: PublicKey?,
        _ worker: String
    ) -> Rejection {
        Rejection(
            source: source,
            reason: MessageWriter.duplicateMessageIDReason,
            detail: "another batch of the sender with this batch id arrived first",
            messageID: id.uuid,
            sender: sender.bytes,
            recipient: recipient?.bytes,
            envelopeBytes: 0,
            worker: worker
        )
    }

    /// Writes one verified batch, publishes its rejections, and stores its offsets — in that order.
    private func commit(_ batch: VerifiedBatch, _ prepared: PreparedCommit) async throws {
        let started = ContinuousClock.now
        var rejected = prepared.rejected

        // Mailboxes: both parties must have one (as in Textile).
        let owners = prepared.owners
        // The owners not known to have a mailbox, and those of them found to have one. With lookups made ahead:
        // what they asked and found (an owner they did not ask was known then, and mailboxes are never deleted).
        let unknown: Set<PublicKey>
        var found: Set<PublicKey>
        // Answers read more than a moment ago (a write ahead of this one waited out a failure) are looked up again.
        let lookups = prepared.lookups.flatMap { $0.isFresh ? $0 : nil }
        if let lookups {
            (unknown, found) = (lookups.asked, lookups.found)
        } else {
            (unknown, found) = (mailboxes.unknown(among: owners), [])
            if !unknown.isEmpty {
                let existing = try await retrying("mailbox lookup") { connection in
                    try await MessageWriter.existingMailboxes(unknown.map(\.bytes), on: connection)
                }
                found = unknown.filter { existing.contains($0.bytes) }
            }
        }
        if !found.isEmpty { mailboxes.insert(found) }
        // Decided from this batch's own answers, not by asking the cache again: a cache that filled up and started
        // over while `found` went in no longer holds the owners it knew before.
        func hasMailbox(_ owner: PublicKey) -> Bool { !unknown.contains(owner) || found.contains(owner) }
        var rows = prepared.rows
        if found.count < unknown.count, !owners.allSatisfy(hasMailbox) {
            var messages: [NewMessage] = []
            var copies: [NewSenderCopy] = []
            for item in prepared.accepted {
                let refusal: (String, String)? =
                    if let recipient = item.recipient, !hasMailbox(recipient) {
                        (RejectionReason.noRecipientMailbox, "the recipient has no mailbox")
                    } else if !hasMailbox(item.sender) {
                        (RejectionReason.noSenderMailbox, "the sender has no mailbox")
                    } else {
                        nil
                    }
                if let (reason, detail) = refusal {
                    let source = RecordSource(
                        topic: item.record.topic,
                        partition: item.record.partition,
                        offset: item.record.offset
                    )
                    rejected.append(
                        (
                            Rejection(
                                source: source,
                                reason: reason,
                                detail: detail,
                                messageID: item.id.uuid,
                                sender: item.sender.bytes,
                                recipient: item.recipient?.bytes,
                                envelopeBytes: item.record.value?.count ?? 0,
                                worker: configuration.workerName
                            ), item.record
                        )
                    )
                } else if let message = item.message {
                    messages.append(message)
                } else if let copy = item.senderCopy {
                    copies.append(copy)
                }
            }
            rows = PreparedBatch(messages, senderCopies: copies)
        }

        let refused = try await applyBlocksAndLimits(&rows, records: batch.records, lookups: lookups)
        rejected += refused

        // One transaction for the whole batch; retried until it succeeds.
        let rejections = rejected.map(\.0)
        let progress = PartitionProgress.after(batch.records, group: configuration.groupID, consumer: consumer)
        let writeStarted = ContinuousClock.now
        let outcome = try await writeBatch(rows, rejections: rejections, progress: progress)
        let writeDuration = ContinuousClock.now - writeStarted
        lastProgress = .now
        var conflicts: [(Rejection, KafkaRecord)] = []
        if !outcome.conflicts.isEmpty {
            let records = Self.bySource(batch.records)
            conflicts = outcome.conflicts.compactMap { rejection in records[rejection.source].map { (rejection, $0) } }
        }
        try await publishDeadLetters(rejected + conflicts)

        // Durable in PostgreSQL and on the dead-letter topic: now, and only now, the offsets may move.
        do {
            try consumer.storeOffsets(after: batch.records)
        } catch {
            logger.warning("storing offsets failed; the batch will be redelivered", metadata: ["error": "\(error)"])
        }

        var byReason: [String: Int] = [:]
        for (rejection, _) in rejected + conflicts { byReason[rejection.reason, default: 0] += 1 }
        statistics.record(
            consumed: batch.records.count,
            stored: outcome.stored,
            redelivered: outcome.redelivered,
            rejected: byReason
        )
        metrics.consumed.increment(by: batch.records.count)
        metrics.stored.increment(by: outcome.stored)
        metrics.redelivered.increment(by: outcome.redelivered)
        for (reason, count) in byReason { metrics.rejected(reason).increment(by: count) }
        metrics.batchSize.record(batch.records.count)
        recordSignatureChecks()
        metrics.batchDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        let nowMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
        for message in rows.messages {
            let created = Int64(message.createdAt.timeIntervalSince1970 * 1000)
            metrics.endToEnd.recordMilliseconds(max(0, nowMilliseconds - created))
        }
        logger.debug(
            "batch committed",
            metadata: [
                "records": "\(batch.records.count)", "stored": "\(outcome.stored)",
                "redelivered": "\(outcome.redelivered)", "rejected": "\(rejected.count + conflicts.count)",
                "prepare_ms": "\((writeStarted - started).nanoseconds / 1_000_000)",
                "mailboxes_looked_up": "\(unknown.count)",
                "write_ms": "\(writeDuration.nanoseconds / 1_000_000)",
                "commit_ms": "\((ContinuousClock.now - started).nanoseconds / 1_000_000)",
            ]
        )
    }

    /// Refuses new mail from blocked senders (`blocked_sender`) and past the rate limits (`rate_limited`), in
    /// the batch's Kafka order, taking it out of `rows`. A message already stored (a redelivery) is never
    /// refused: it stays in the batch, whose write counts it as redelivered.
    ///
    /// `lookups` made ahead hold the blocks of every recipient of the prepared batch, of which `rows` is a part.
    private func applyBlocksAndLimits(
        _ rows: inout PreparedBatch,
        records: [KafkaRecord],
        lookups: BatchLookahead.Answers?
    ) async throws
        -> [(Rejection, KafkaRecord)]
    {
        let messages = rows.messages
        guard !messages.isEmpty else { return [] }
        let blocked: Set<[UInt8]>
        if let lookups {
            blocked = lookups.blocked
        } else {
            let recipients = rows.recipients
            blocked = try await retrying("block lists") { connection in
                try await BlockQueries.blockedPairs(recipients: recipients, on: connection)
            }
        }
        guard !blocked.isEmpty || limiter.isEnabled else { return [] }
        let bySource = Self.bySource(records)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var refusals: [(index: Int, reason: String, detail: String)] = []
        for (index, message) in messages.enumerated() {
            if !blocked.isEmpty, blocked.contains(message.recipient + message.sender) {
                refusals.append((index, RejectionReason.blockedSender, "the recipient has blocked the sender"))
                continue
            }
            let sent = bySource[message.source]?.timestampMilliseconds ?? now
            switch limiter.admit(sender: message.sender, recipient: message.recipient, milliseconds: sent) {
            case .pair?:
                refusals.append((index, RejectionReason.rateLimited, "the sender's rate limit to this recipient"))
            case .sender?:
                refusals.append((index, RejectionReason.rateLimited, "the sender's rate limit"))
            case nil: break
            }
        }
        guard !refusals.isEmpty else { return [] }
        let candidates = refusals.map { messages[$0.index] }
        let stored = try await retrying("redelivery check") { connection in
            try await self.writer.storedAlready(
                recipients: candidates.map(\.recipient),
                ids: candidates.map(\.id),
                on: connection
            )
        }
        var drop = Set<Int>()
        var refused: [(Rejection, KafkaRecord)] = []
        for refusal in refusals {
            let message = messages[refusal.index]
            if stored.contains(message.recipient + withUnsafeBytes(of: message.id.uuid) { Array($0) }) { continue }
            guard let record = bySource[message.source] else { continue }
            drop.insert(refusal.index)
            refused.append(
                (
                    Rejection(
                        refusing: message,
                        reason: refusal.reason,
                        detail: refusal.detail,
                        envelopeBytes: record.value?.count ?? 0,
                        worker: configuration.workerName
                    ), record
                )
            )
        }
        if !drop.isEmpty {
            rows = PreparedBatch(
                messages.enumerated().filter { !drop.contains($0.offset) }.map(\.element),
                senderCopies: rows.senderCopies
            )
        }
        return refused
    }

    /// The batch's records by where they came from.
    private static func bySource(_ records: [KafkaRecord]) -> [RecordSource: KafkaRecord] {
        Dictionary(records.map { (RecordSource(topic: $0.topic, partition: $0.partition, offset: $0.offset), $0) }) {
            first,
            _ in first
        }
    }

    /// The signature verifier's counters at the last batch (batches are committed one at a time); zero before
    /// the first, so that it reports everything since the verifier was made, its self-test included.
    private var signatureChecks = Ed25519Verifier.Statistics()

    /// Adds the signature checks since the last batch to the metrics. (A disagreement with libsodium is logged by
    /// the verifier itself, at critical level, when it happens.)
    private func recordSignatureChecks() {
        let now = handler.signatureVerifier.statistics
        let before = signatureChecks
        metrics.signatureChecks("table").increment(by: max(0, now.fromTables - before.fromTables))
        metrics.signatureChecks("libsodium").increment(by: max(0, now.byLibsodium - before.byLibsodium))
        metrics.signatureTablesBuilt.increment(by: max(0, now.tablesBuilt - before.tablesBuilt))
        metrics.signatureRechecks("accepted").increment(
            by: max(0, now.acceptancesRechecked - before.acceptancesRechecked)
        )
        metrics.signatureRechecks("refused").increment(by: max(0, now.refusalsRechecked - before.refusalsRechecked))
        metrics.signatureDisagreements.increment(by: max(0, now.disagreements - before.disagreements))
        metrics.signatureTablesOff.record(now.switchedOff ? 1 : 0)
        signatureChecks = now
    }

    /// Writes a batch; a batch that keeps failing for a reason its input causes (SQLSTATE classes 22, 23, 54:
    /// ``PostgresError/Persistence/inputSpecific``) is written one message at a time, so that one poison
    /// message cannot block its partition. Every other failure is waited out, however long it lasts.
    private func writeBatch(
        _ rows: PreparedBatch,
        rejections: [Rejection],
        progress: [PartitionProgress]
    ) async throws -> MessageWriter.Outcome {
        let worker = configuration.workerName
        let messages = rows.messages
        do {
            return try await retrying("batch write", maxServerErrors: 3) { connection in
                try await self.writer.write(
                    rows,
                    rejections: rejections,
                    worker: worker,
                    progress: progress,
                    on: connection
                )
            }
        } catch let error as PoisonBatch {
            logger.error(
                "batch keeps failing; writing it one message at a time",
                metadata: ["error": "\(error.underlying)"]
            )
        }
        var total = MessageWriter.Outcome()
        var extra: [Rejection] = []
        // One record at a time, each sender copy and each message with the rejection it gets if PostgreSQL keeps
        // refusing it alone.
        let alone: [(rows: PreparedBatch, refused: Rejection)] =
            rows.senderCopies.map { copy in
                (
                    PreparedBatch([], senderCopies: [copy]),
                    Rejection(
                        source: copy.source,
                        reason: "store_failed",
                        messageID: copy.batchID,
                        sender: copy.sender,
                        envelopeBytes: 0,
                        worker: worker
                    )
                )
            }
            + messages.map { message in
                (
                    PreparedBatch([message]),
                    Rejection(refusing: message, reason: "store_failed", detail: "", worker: worker)
                )
            }
        for (one, refused) in alone {
            do {
                let outcome = try await retrying("record write", maxServerErrors: 2) { connection in
                    try await self.writer.write(one, rejections: [], worker: worker, on: connection)
                }
                total.stored += outcome.stored
                total.redelivered += outcome.redelivered
                total.conflicts += outcome.conflicts
            } catch let error as PoisonBatch {
                var rejection = refused
                rejection.detail = Self.refusal(error.underlying)
                extra.append(rejection)
            }
        }
        let recorded = try await retrying("rejection write") { connection in
            try await self.writer.write(
                [],
                rejections: rejections + extra,
                worker: worker,
                progress: progress,
                on: connection
            )
        }
        total.conflicts += extra
        total.rejectionsRecorded = recorded.rejectionsRecorded
        return total
    }

    /// Publishes dead letters, retrying failures with back-off (the broker may be down).
    private func publishDeadLetters(_ rejections: [(Rejection, KafkaRecord)]) async throws {
        var left = rejections
        var delay = configuration.retryInitialDelay
        while !left.isEmpty {
            let failures = await deadLetters.publish(left)
            if failures.isEmpty { return }
            metrics.deadLetterRetries.increment()
            logger.warning(
                "dead-letter publish failed; retrying",
                metadata: ["error": "\(failures[0])", "records": "\(failures.count)"]
            )
            // Publishing again may duplicate some dead letters: the dead-letter topic is at-least-once. A cancelled
            // task gives the batch up (redelivered) instead of trying again.
            if Task.isCancelled { throw Abandoned() }
            try checkGrace()
            await waitOut(delay)
            delay = min(delay * 2, configuration.retryMaxDelay)
            left = rejections
        }
    }

    // MARK: - Retrying

    /// A batch that PostgreSQL refused for a reason its input causes more than the allowed number of times.
    struct PoisonBatch: Error { let underlying: any Error }

    /// A `store_failed` rejection's detail: the SQLSTATE first, then the server's primary message.
    static func refusal(_ error: any Error) -> String {
        guard let error = error as? PostgresError else { return "PostgreSQL refused it: \(error)" }
        return "PostgreSQL refused it: SQLSTATE \(error.sqlState ?? "none"): \(error.message)"
    }

    private var stopRequestedAt: ContinuousClock.Instant?

    /// Runs `body` on a live connection, reconnecting and retrying with back-off on failure. Partitions are
    /// paused while it waits and resumed once it succeeds.
    private func retrying<T: Sendable>(
        _ what: String,
        maxServerErrors: Int = .max,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        var delay = configuration.retryInitialDelay
        var serverErrors = 0
        while true {
            do {
                let connection = try await liveConnection()
                let value = try await body(connection)
                if paused {
                    consumer.setPaused(false)
                    paused = false
                    logger.info("PostgreSQL is back; partitions resumed")
                }
                return value
            } catch {
                // A cancelled task gives the batch up at once (it is redelivered): no retry runs for it.
                if Task.isCancelled { throw Abandoned() }
                // Only an error the input itself causes may end in giving the input up; anything else is a
                // condition of the server, waited out on a fresh connection (which also finds a new primary
                // after a failover and picks up changed settings).
                let persistence = (error as? PostgresError)?.persistence ?? .transient(condition: "unclassified")
                let condition: String
                switch persistence {
                case .inputSpecific where connection?.isConnected ?? false:
                    condition = "input"
                    serverErrors += 1
                    if serverErrors >= maxServerErrors { throw PoisonBatch(underlying: error) }
                case .inputSpecific, .connectionLost:
                    condition = "connection"
                    await closeWriteConnection()
                case .transient(let name):
                    condition = name
                    await closeWriteConnection()
                }
                metrics.postgresRetries(condition).increment()
                statistics.recordRetry(condition)
                logger.warning(
                    "\(what) failed; keeping the batch and retrying",
                    metadata: [
                        "condition": "\(condition)", "error": "\(error)",
                        "retry_in_ms": "\(delay.nanoseconds / 1_000_000)",
                    ]
                )
                if !paused {
                    consumer.setPaused(true)
                    paused = true
                }
                try checkGrace()
                await waitOut(delay)
                delay = min(delay * 2, configuration.retryMaxDelay)
            }
        }
    }

    /// The write in flight, for its retries to report their waits (set for the duration of ``commit(_:_:reportingTo:)``).
    private var currentWrite: WriteInFlight?

    /// A write's pause before its next try; the loop polls the paused consumer meanwhile (``BatchLoop``).
    private func waitOut(_ delay: Duration) async {
        currentWrite?.enter(.waitingOutFailure)
        try? await Task.sleep(for: delay)
        currentWrite?.enter(.writing)
    }

    /// After a stop request, gives up once the grace period is over.
    private func checkGrace() throws {
        guard stop.isSet else { return }
        let since = stopRequestedAt ?? .now
        stopRequestedAt = since
        if ContinuousClock.now - since > configuration.shutdownGracePeriod { throw Abandoned() }
    }

    private func liveConnection() async throws -> PostgresConnection {
        if let connection, connection.isConnected { return connection }
        // Opened from `executor`, so that loop reads it, whoever asks first.
        let fresh = try await withTaskExecutorPreference(executor) {
            try await PostgresConnection.connect(configuration.postgresConnection, logger: logger)
        }
        connection = fresh
        return fresh
    }

    // MARK: - Progress in PostgreSQL (docs/OPERATIONS.md, worker_progress)

    private var lastProgress: ContinuousClock.Instant?

    /// While idle, refreshes the assigned partitions' high-water marks now and then (one try; a failure waits for
    /// the next batch's retries), so that a `worker_progress` row only goes stale when its worker stops.
    func refreshProgressIfDue() async {
        if let lastProgress, ContinuousClock.now - lastProgress < configuration.progressInterval { return }
        lastProgress = .now
        let progress = PartitionProgress.highWatermarks(
            of: consumer.assignment,
            group: configuration.groupID,
            consumer: consumer
        )
        guard !progress.isEmpty, let connection = try? await liveConnection() else { return }
        _ = try? await writer.write(
            [],
            rejections: [],
            worker: configuration.workerName,
            progress: progress,
            on: connection
        )
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
