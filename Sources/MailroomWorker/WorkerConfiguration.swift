public import MailroomCore
import MailroomEd25519
public import MailroomKafka
import MailroomPostgres

/// Everything a worker needs; every property but the broker list and database URL has a default.
public struct WorkerConfiguration: Sendable {
    public var kafka: KafkaConfiguration
    /// libpq URL of the mailbox database.
    public var databaseURL: String
    public var topics: MailroomTopics = MailroomTopics()
    /// Consumer group; workers with the same id share the partitions.
    public var groupID: String = "mailroom-workers"
    /// Records per batch at most (one PostgreSQL transaction each).
    public var batchSize: Int = 2_000
    /// How long a poll waits to fill a batch before taking what is there.
    public var batchLinger: Duration = .milliseconds(20)
    /// Envelopes created further than this in the future are rejected (`created_in_future`).
    public var maxClockSkew: Duration = .seconds(300)
    /// Envelopes created longer ago than this are rejected (`envelope_too_old`), so that a deleted or expired
    /// message, whose tombstone `mailroom expire` keeps for its redelivery window, can never be stored again.
    /// Keep it at most the topics' retention and below that window minus ``maxClockSkew``.
    public var maxEnvelopeAge: Duration = WorkerConfiguration.defaultMaxEnvelopeAge
    /// The body size limit, as producers use it.
    public var limits: EnvelopeLimits = EnvelopeLimits()
    /// Verified batches that may be being written or waiting to be, at most (at least 1). Meanwhile the loop
    /// polls and verifies the next batch, so that slow writes (measured: a draining worker's first batches take
    /// up to twice as long to write as to verify) do not leave the cores idle; writes still run one at a time,
    /// in order.
    /// A crash or a rebalance redelivers at most this many batches more (harmless: writes are idempotent).
    public var writeQueueDepth: Int = 3
    /// The most envelope bytes (record values) those batches may hold together: beyond it the loop waits for
    /// the oldest write first, so that large envelopes keep memory bounded (one batch is written and one
    /// verified at least).
    public var writeQueueBytes: Int = 64 << 20
    /// This worker's name on dead-letter records and rejection rows.
    public var workerName: String = WorkerConfiguration.defaultWorkerName
    /// Retry back-off for PostgreSQL and dead-letter failures: first and longest wait.
    public var retryInitialDelay: Duration = .milliseconds(100)
    public var retryMaxDelay: Duration = .seconds(5)
    /// How long a shutdown may keep retrying the batch in hand before giving up on it (it is redelivered).
    public var shutdownGracePeriod: Duration = .seconds(15)
    /// Mailbox keys remembered as existing (mailboxes are never deleted), to skip a lookup per batch.
    public var mailboxCacheSize: Int = 100_000
    /// The most messages an inbox may hold unless its `mailbox_usage.max_messages` says otherwise; an
    /// envelope to a full inbox is rejected as `mailbox_full`. `nil`: no default (mailboxes' own limits apply).
    public var mailboxQuota: Int64? = WorkerConfiguration.defaultMailboxQuota
    /// The most bytes of sealed bodies an inbox may hold unless its `mailbox_usage.max_bytes` says otherwise; an
    /// envelope that would pass it is rejected as `mailbox_bytes_full`. `nil`: no default.
    public var mailboxByteQuota: Int64? = WorkerConfiguration.defaultMailboxByteQuota
    /// The most of an inbox's message quota one sender may hold, in percent; past it `sender_share_full`, so that
    /// no stranger can fill a mailbox (a sender's mail to itself is not capped). `nil`: no cap.
    public var senderSharePercent: Int64? = WorkerConfiguration.defaultSenderSharePercent
    /// New messages from one sender to one recipient: a burst and a sustained rate (by the records' Kafka
    /// timestamps); past it `rate_limited`. `nil`: no limit. The recipient's worker holds this state.
    public var pairRateLimit: RateLimit? = RateLimit(burst: 500, perSecond: 1)
    /// New messages from one sender to anyone, per worker; past it `rate_limited`. `nil`: no limit.
    public var senderRateLimit: RateLimit? = RateLimit(burst: 100_000, perSecond: 2_000)
    /// Token buckets kept per kind at most (about 150 bytes each); past it idle ones are dropped.
    public var rateLimitTrackedKeys: Int = 200_000
    /// The most sender keys given a precomputed signature-check table (``Ed25519Verifier``, 15 KiB each): a
    /// repeat sender's signatures then cost about 40% of a libsodium verification. 0: libsodium alone. Default
    /// 1024; 0 in a debug build, where the tables' arithmetic is unoptimised.
    public var precomputedKeys: Int = Ed25519Verifier.Configuration.defaultPrecomputedKeyLimit
    /// The share of table acceptances libsodium checks again (``Ed25519Verifier/Configuration/recheckSampleRate``;
    /// every table refusal is checked again regardless). Default 0.001.
    public var signatureRecheckSampleRate: Double = Ed25519Verifier.Configuration.defaultRecheckSampleRate
    /// How often an idle worker refreshes the high-water marks in `worker_progress`, so that a stale row there
    /// means a stopped worker, not a quiet partition.
    public var progressInterval: Duration = .seconds(10)

    public init(kafka: KafkaConfiguration, databaseURL: String) {
        self.kafka = kafka
        self.databaseURL = databaseURL
    }

    /// 7 days: Kafka's default topic retention, and one day inside `mailroom expire`'s default redelivery window.
    public static let defaultMaxEnvelopeAge: Duration = .seconds(7 * 24 * 3600)

    /// The default inbox quota: 100,000 messages.
    public static let defaultMailboxQuota: Int64 = 100_000

    /// The default inbox byte quota: 1 GiB of sealed bodies.
    public static let defaultMailboxByteQuota: Int64 = 1 << 30

    /// The default sender share: one sender may hold a quarter of an inbox's message quota.
    public static let defaultSenderSharePercent: Int64 = 25

    public static var defaultWorkerName: String { "\(System.hostName)-\(System.processID)" }
}

extension WorkerConfiguration {
    /// How the worker's sessions connect: as `mailroom-worker`, to a server that accepts writes
    /// (`target_session_attrs=read-write`, so that after a failover it finds the new primary among the URL's hosts).
    var postgresConnection: PostgresConnection.Configuration {
        PostgresConnection.Configuration(
            url: databaseURL,
            applicationName: "mailroom-worker",
            targetSessionAttributes: "read-write"
        )
    }
}
