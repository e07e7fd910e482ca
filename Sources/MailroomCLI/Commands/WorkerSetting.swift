/// Every environment variable `mailroom worker` reads: the one list that its help text, the README's table and
/// the docker-compose check (`Tests/scripts/check_compose.py` reads the raw values from this file) agree with.
enum WorkerSetting: String, CaseIterable {
    case databaseURL = "MAILROOM_DATABASE_URL"
    case databaseURLFile = "MAILROOM_DATABASE_URL_FILE"
    case kafkaPropertiesFile = "MAILROOM_KAFKA_PROPERTIES_FILE"
    case development = "MAILROOM_DEVELOPMENT"
    case brokers = "MAILROOM_BROKERS"
    case group = "MAILROOM_WORKER_GROUP"
    case batchSize = "MAILROOM_WORKER_BATCH_SIZE"
    case batchLingerMilliseconds = "MAILROOM_WORKER_BATCH_LINGER_MS"
    case writeQueueDepth = "MAILROOM_WORKER_WRITE_QUEUE"
    case writeQueueMegabytes = "MAILROOM_WORKER_WRITE_QUEUE_MB"
    case metricsPort = "MAILROOM_WORKER_METRICS_PORT"
    case metricsHost = "MAILROOM_WORKER_METRICS_HOST"
    case maxBodyBytes = "MAILROOM_MAX_BODY_BYTES"
    case maxClockSkewSeconds = "MAILROOM_MAX_CLOCK_SKEW_S"
    case maxEnvelopeAgeDays = "MAILROOM_MAX_ENVELOPE_AGE_DAYS"
    case mailboxQuota = "MAILROOM_MAILBOX_QUOTA"
    case mailboxBytesQuotaMegabytes = "MAILROOM_MAILBOX_BYTES_QUOTA_MB"
    case senderSharePercent = "MAILROOM_SENDER_SHARE_PERCENT"
    case pairRateBurst = "MAILROOM_PAIR_RATE_BURST"
    case pairRatePerSecond = "MAILROOM_PAIR_RATE_PER_S"
    case senderRateBurst = "MAILROOM_SENDER_RATE_BURST"
    case senderRatePerSecond = "MAILROOM_SENDER_RATE_PER_S"
    case precomputedKeys = "MAILROOM_PRECOMPUTED_KEYS"

    /// The names, comma-separated, for help texts.
    static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
