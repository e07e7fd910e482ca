import Metrics

/// The worker's swift-metrics instruments. The executable exports them as Prometheus text.
struct WorkerMetrics: Sendable {
    let consumed = Counter(label: "mailroom_worker_consumed_total")
    let stored = Counter(label: "mailroom_worker_stored_total")
    let redelivered = Counter(label: "mailroom_worker_redelivered_total")
    let batchSize = Recorder(label: "mailroom_worker_batch_records", aggregate: true)
    let batchDuration = Timer(label: "mailroom_worker_batch_duration_seconds", preferredDisplayUnit: .seconds)
    let endToEnd = Timer(label: "mailroom_worker_end_to_end_latency_seconds", preferredDisplayUnit: .seconds)
    /// Writes tried again, by the condition that failed them (``WorkerStatistics/Snapshot/postgresRetries``).
    func postgresRetries(_ condition: String) -> Counter {
        Counter(label: "mailroom_worker_postgres_retries_total", dimensions: [("condition", condition)])
    }
    let deadLetterRetries = Counter(label: "mailroom_worker_dead_letter_retries_total")

    func rejected(_ reason: String) -> Counter {
        Counter(label: "mailroom_worker_rejected_total", dimensions: [("reason", reason)])
    }

    /// Signature checks by how they were answered: `table` (a precomputed key) or `libsodium`.
    func signatureChecks(_ path: String) -> Counter {
        Counter(label: "mailroom_worker_signature_checks_total", dimensions: [("path", path)])
    }

    /// Precomputed signature tables built (new senders, or new senders taking a quiet one's place).
    let signatureTablesBuilt = Counter(label: "mailroom_worker_signature_tables_built_total")

    /// Table verdicts checked again by libsodium, by the table's verdict: `accepted` (a random sample) or
    /// `refused` (every one).
    func signatureRechecks(_ verdict: String) -> Counter {
        Counter(label: "mailroom_worker_signature_rechecks_total", dimensions: [("verdict", verdict)])
    }

    /// Times a table and libsodium disagreed (the self-test included). Never expected: the first switches the
    /// worker's tables off.
    let signatureDisagreements = Counter(label: "mailroom_worker_signature_disagreements_total")

    /// 1 once a disagreement switched the worker's tables off (libsodium checks every signature), else 0.
    let signatureTablesOff = Gauge(label: "mailroom_worker_signature_tables_switched_off")

    func lag(_ topic: String, _ partition: Int32) -> Gauge {
        Gauge(label: "mailroom_worker_consumer_lag", dimensions: [("topic", topic), ("partition", "\(partition)")])
    }
}
