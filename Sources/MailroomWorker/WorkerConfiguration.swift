public import MailroomCore
public import MailroomKafka


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
    /// The body size limit, as producers use it.
    public var limits: EnvelopeLimits = EnvelopeLimits()
    /// Concurrent verification tasks (default: one per core).
    public var verificationTasks: Int = WorkerConfiguration.coreCount
    /// This worker's name on dead-letter records and rejection rows.
    public var workerName: String = WorkerConfiguration.defaultWorkerName
    /// Retry back-off for PostgreSQL and dead-letter failures: first and longest wait.
    public var retryInitialDelay: Duration = .milliseconds(100)
    public var retryMaxDelay: Duration = .seconds(5)
    /// How long a shutdown may keep retrying the batch in hand before giving up on it (it is redelivered).
    public var shutdownGracePeriod: Duration = .seconds(15)
    /// Mailbox keys remembered as existing (mailboxes are never deleted), to skip a lookup per batch.
    public var mailboxCacheSize: Int = 100_000

    public init(kafka: KafkaConfiguration, databaseURL: String) {
        self.kafka = kafka
        self.databaseURL = databaseURL
    }

    public static var coreCount: Int { max(1, System.coreCount) }

    public static var defaultWorkerName: String { "\(System.hostName)-\(System.processID)" }
}
