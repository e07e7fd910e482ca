import ArgumentParser
import Foundation
import MailroomCLISupport
@_spi(Benchmarks) import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomProducer
import MailroomStore
import MailroomWorker
import Synchronization

/// `mailroom-bench pipeline`: produce a backlog, time a worker draining it, then measure end-to-end latency at
/// a fixed offered rate — beside the raw libsodium 2-thread verification ceiling measured in the same run.
struct PipelineBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Producer and worker throughput and end-to-end latency against the configured broker and database.",
        discussion: """
            Starts nothing itself: it uses $MAILROOM_BROKERS and $MAILROOM_DATABASE_URL (migrated), creates fresh \
            topics and mailboxes for the run, and runs the worker as a separate `mailroom worker` process so that \
            its peak RSS is its own. Build with `swift build -c release` first.
            """
    )

    @Option(help: "Backlog size.") var envelopes: Int = 200_000
    @Option(help: "Mailboxes (each is both a sender and a recipient).") var mailboxes: Int = 1_000
    @Option(help: "Mailboxes that send the backlog, each its share in one bulk call (at most --mailboxes).")
    var senders: Int = 50
    @Option(help: "Partitions of the bench topic.") var partitions: Int = 6
    @Option(name: .customLong("body-bytes"), help: "Plaintext body size.") var bodyBytes: Int = 256
    @Option(help: "Offered rate (envelopes/s) for the latency phase.") var rate: Int = 5_000
    @Option(name: .customLong("latency-seconds"), help: "Length of the latency phase.") var latencySeconds: Int = 20
    @Option(name: .customLong("batch-size"), help: "Worker batch size.") var batchSize: Int = 2_000
    @Option(name: .customLong("batch-linger-ms"), help: "Worker batch linger.") var batchLinger: Int = 20
    @Option(name: .customLong("producer-linger-ms"), help: "Producer linger.ms (default: Mailroom's).")
    var producerLinger: Int?
    @Option(name: .customLong("fetch-wait-ms"), help: "The worker's fetch.wait.max.ms (default: Mailroom's).")
    var fetchWait: Int?
    @Option(
        name: .customLong("worker-precomputed-keys"),
        help: "The worker's --precomputed-keys (default: the worker's; 0: every signature checked by libsodium alone)."
    )
    var workerPrecomputedKeys: Int?
    @Option(help: "Tasks sealing and sending in the latency phase, each pacing its share of the rate.") var sealers:
        Int = 4
    @Option(
        name: .customLong("broker-pid"),
        help: "The broker's process id, to report its CPU during the latency phase (same host only)."
    )
    var brokerPID: Int32?
    @Option(
        name: .customLong("ceiling-seconds"),
        help: "Seconds to measure the raw verify ceiling (before and again after the drain)."
    )
    var ceilingSeconds: Double = 4
    @Option(
        name: .customLong("bare-envelopes"),
        help: "Items for the bare pipeline (raw libsodium and raw libpq together); 0 skips it."
    )
    var bareEnvelopes: Int = 100_000
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions

    func run() async throws {
        try await reportingErrors {
            BenchHarness.print(try await measure(), json: json)
        }
    }

    private func note(_ text: String) {
        if !json { CLIOutput.error(text) }
    }

    private func measure() async throws -> [String: Any] {
        // 1. The ceiling, on an otherwise idle process: bare crypto_sign_verify_detached on 2 threads. Measured
        // again after the drain; the two are averaged (this VM's speed drifts by ±15% over minutes).
        note("measuring raw libsodium verify ceiling (2 threads, \(ceilingSeconds) s)…")
        let ceilingBefore = try await measureCeiling()

        // 2. Fresh topics and mailboxes for this run.
        let suffix = Int(Date().timeIntervalSince1970)
        let topics = MailroomTopics(envelopes: "bench-envelopes-\(suffix)", deadLetters: "bench-dlq-\(suffix)")
        var kafkaConfiguration = try kafka.configuration(clientID: "mailroom-bench")
        if let producerLinger { kafkaConfiguration.overrides["linger.ms"] = "\(producerLinger)" }
        _ = try await KafkaAdmin.createTopics(
            [topics.envelopes, topics.deadLetters],
            partitions: partitions,
            configuration: kafkaConfiguration
        )
        let identities = (0..<mailboxes).map { _ in Identity.generate() }
        try await database.withConnection { connection in
            try await BenchDatabase.addMailboxes(identities.map(\.publicKey.bytes), on: connection)
        }
        let body = [UInt8](repeating: 0x61, count: bodyBytes)

        // 3. The backlog: sealed on all cores while producing.
        note("producing a backlog of \(envelopes) envelopes…")
        var producerConfiguration = MailroomProducer.Configuration(
            kafka: kafkaConfiguration,
            topics: topics,
            maxInFlight: 50_000
        )
        // The backlog is single envelopes (v1), as the figures in docs/BENCHMARKS.md have always measured.
        producerConfiguration.minBatchRecipients = .max
        let producer = try MailroomProducer(producerConfiguration)
        let senders = backlogSenders
        let produceStart = ContinuousClock.now
        var failed = 0
        for senderIndex in 0..<senders {
            let count = envelopes / senders + (senderIndex < envelopes % senders ? 1 : 0)
            let messages = (0..<count).map { n in
                BulkMessage(
                    recipient: identities[(n * 7 + senderIndex) % identities.count].publicKey.hexString,
                    body: body
                )
            }
            failed += await producer.sendBulk(from: identities[senderIndex], messages: messages).filter { !$0.isSent }
                .count
        }
        let produceSeconds = (ContinuousClock.now - produceStart).seconds
        guard failed == 0 else { throw CLIError("\(failed) envelopes of the backlog were not acknowledged") }

        // 4. Drain it with a worker process, timed from its first record to its last.
        let metricsPort = Int.random(in: 40_000...49_000)
        let worker = try startWorker(topics: topics, metricsPort: metricsPort, phase: "drain")
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL) } }
        note("worker \(worker.processIdentifier) draining…")
        // The worker, the broker and the server's processes (listed each time: the worker's backend appears
        // once it writes; autovacuum workers started meanwhile count whole, one that came and went is missed).
        func drainSnapshot() async -> ProcessCPU {
            ProcessCPU(
                ["worker": worker.processIdentifier, "broker": brokerPID],
                server: (try? await Self.serverProcesses(database)) ?? []
            )
        }
        let drain = try await WorkerDrain.drain(
            worker,
            metricsPort: metricsPort,
            records: envelopes,
            what: "the backlog",
            snapshot: drainSnapshot
        )
        let ingestRate = drain.perSecond
        let drainCPU = drain.cpuMicroseconds(per: drain.records)

        let drainPeakRSS = Self.peakRSSMegabytes(pid: worker.processIdentifier)
        let signatureChecks = (try? Self.scrapeSignatureChecks(port: metricsPort)) ?? [:]
        worker.terminate()
        await BenchHarness.waitForExit(worker)

        // The drain was a bulk load: let the database digest it, as an operator would after one, so that the
        // latency phase measures the steady state rather than autovacuum's first pass over the new rows
        // (measured: it started mid-phase and stalled commits for about a second, p99 834-967 ms).
        note("vacuum analyze and checkpoint after the backlog…")
        try await database.withConnection { connection in
            try await connection.executeScript("VACUUM (ANALYZE) messages")
            do {
                try await connection.executeScript("CHECKPOINT")
            } catch {
                note("CHECKPOINT refused (\((error as? PostgresError)?.sqlState ?? "?")): measuring without it")
            }
        }

        // The ceiling again, then the bare pipeline: raw libsodium and raw libpq on the same cores (after the
        // vacuum, so that autovacuum does not take its share; its table is dropped and checkpointed after it).
        note("measuring raw libsodium verify ceiling again…")
        let ceilingAfter = try await measureCeiling()
        let ceiling = (ceilingBefore + ceilingAfter) / 2
        var bare: BarePipeline.Result?
        if bareEnvelopes > 0 {
            note("bare pipeline: \(bareEnvelopes) items, raw verification on 2 threads and raw binary COPY…")
            let (url, count, body, batch, senders, recipients) = (
                try database.resolvedURL(), bareEnvelopes, bodyBytes, batchSize, min(50, mailboxes), mailboxes
            )
            bare = try await BenchHarness.onThread {
                try BarePipeline.run(
                    url: url,
                    count: count,
                    bodyBytes: body,
                    batchSize: batch,
                    senders: senders,
                    recipients: recipients
                )
            }
            try await database.withConnection { connection in try? await connection.executeScript("CHECKPOINT") }
        }

        // 5. End-to-end latency at a fixed offered rate, producer and worker together, on fresh topics with a
        // fresh worker: Tansu's in-memory store lists every batch a partition holds on each fetch, so on the
        // backlog's topic the broker's cost (and the latency) would grow with the backlog just drained, which a
        // real Kafka broker (an index lookup per fetch) does not do.
        let latencyTopics = MailroomTopics(
            envelopes: "bench-latency-\(suffix)",
            deadLetters: "bench-latency-dlq-\(suffix)"
        )
        _ = try await KafkaAdmin.createTopics(
            [latencyTopics.envelopes, latencyTopics.deadLetters],
            partitions: partitions,
            configuration: kafkaConfiguration
        )
        let latencyPort = metricsPort + 1
        let latencyWorker = try startWorker(topics: latencyTopics, metricsPort: latencyPort, phase: "latency")
        defer { if latencyWorker.isRunning { kill(latencyWorker.processIdentifier, SIGKILL) } }
        let kafkaProducer = try KafkaProducer(.init(kafka: kafkaConfiguration, maxInFlight: 50_000))
        // Connect, read metadata and get the idempotent producer id before the clock starts, as a long-lived
        // producer has, and wait until the worker has joined its group and stored that first envelope:
        // otherwise the first seconds of envelopes wait for both and fill the p99.
        let warmUp = try Envelope.seal(from: identities[0], to: identities[1].publicKey, body: body)
        _ = try await kafkaProducer.send(
            topic: latencyTopics.envelopes,
            key: identities[1].publicKey.bytes,
            value: warmUp.serialized()
        )
        let joinDeadline = ContinuousClock.now + .seconds(60)
        while (try? await Self.scrape(port: latencyPort)) ?? 0 < 1 {
            guard latencyWorker.isRunning, ContinuousClock.now < joinDeadline else {
                throw CLIError("the latency phase's worker did not start consuming")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        note("offering \(rate) envelopes/s for \(latencySeconds) s on \(sealers) tasks…")
        let phaseStart = Date()
        let phaseProcesses = ["broker": brokerPID, "worker": latencyWorker.processIdentifier, "bench": getpid()]
        let cpuBefore = ProcessCPU(phaseProcesses)
        let pacing = try await Self.offer(
            rate: rate,
            seconds: latencySeconds,
            tasks: max(1, sealers),
            identities: identities,
            body: body,
            topic: latencyTopics.envelopes,
            producer: kafkaProducer
        )
        let cpu = ProcessCPU(phaseProcesses).percent(since: cpuBefore)
        await kafkaProducer.close()
        let offered = pacing.offered
        let target = Double(offered + 1)
        let latencyDeadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < latencyDeadline {
            if let done = try? await Self.scrape(port: latencyPort), done >= target { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let peakRSS = max(drainPeakRSS, Self.peakRSSMegabytes(pid: latencyWorker.processIdentifier))
        latencyWorker.terminate()
        await BenchHarness.waitForExit(latencyWorker)

        let (p50, p99, measured) = try await database.withConnection { connection in
            let row = try await connection.query(
                Self.latencyQuery(since: phaseStart, owners: identities.map { $0.publicKey.bytes })
            ).single()
            return (
                try row.decode(Double.self, column: 0), try row.decode(Double.self, column: 1),
                try row.decode(Int64.self, column: 2)
            )
        }
        let effective = kafkaConfiguration.producerProperties
        var workerConfiguration = try kafka.configuration()
        workerConfiguration.overrides = [:]
        if let fetchWait { workerConfiguration.overrides["fetch.wait.max.ms"] = "\(fetchWait)" }
        let workerKafka = workerConfiguration.consumerProperties(groupID: "")
        await producer.close()

        var bareFigures: [String: Any] = [:]
        if let bare {
            bareFigures = [
                "bare_pipeline_per_s": bare.perSecond.rounded(),
                "bare_pipeline_vs_ceiling": (bare.perSecond / ceiling * 1000).rounded() / 1000,
                "ingest_vs_bare_pipeline": (ingestRate / bare.perSecond * 1000).rounded() / 1000,
                "bare_pipeline_cpu_us_per_envelope": [
                    "verify": (bare.verifyMicroseconds * 10).rounded() / 10,
                    "database": (bare.databaseMicroseconds * 10).rounded() / 10,
                ],
            ]
        }
        // With the worker's signature tables off, every envelope is checked as a sender seen once would be.
        if workerPrecomputedKeys == 0 {
            bareFigures["new_sender_ingested_per_s"] = ingestRate.rounded()
            if let bare {
                bareFigures["new_sender_vs_bare_pipeline"] = (ingestRate / bare.perSecond * 1000).rounded() / 1000
                bareFigures["target_new_sender_vs_bare_pipeline"] = 0.95
            }
        }
        return bareFigures.merging([
            "envelopes": envelopes,
            "mailboxes": mailboxes,
            "senders": backlogSenders,
            "partitions": partitions,
            "body_bytes": bodyBytes,
            "worker_batch_size": batchSize,
            "worker_batch_linger_ms": batchLinger,
            "producer_linger_ms": Int(effective["linger.ms"] ?? "") ?? -1,
            "worker_fetch_wait_ms": Int(workerKafka["fetch.wait.max.ms"] ?? "") ?? -1,
            "sealers": sealers,
            "produced_per_s": (Double(envelopes) / produceSeconds).rounded(),
            "ingested_per_s": ingestRate.rounded(),
            "raw_verified_per_s_2_threads": ceiling.rounded(),
            "raw_verified_per_s_2_threads_before": ceilingBefore.rounded(),
            "raw_verified_per_s_2_threads_after": ceilingAfter.rounded(),
            "ingest_vs_ceiling": (ingestRate / ceiling * 1000).rounded() / 1000,
            "drain_cpu_us_per_envelope": drainCPU,
            "drain_signature_checks": signatureChecks,
            "offered_per_s": pacing.perSecond.rounded(),
            "offered_target_per_s": rate,
            "pacing_lag_max_ms": (pacing.maxLagSeconds * 1000 * 10).rounded() / 10,
            "produce_ack_p50_ms": (pacing.ackP50 * 1000 * 10).rounded() / 10,
            "produce_ack_p99_ms": (pacing.ackP99 * 1000 * 10).rounded() / 10,
            "latency_phase_cpu_pct": cpu,
            "e2e_measured": measured,
            "e2e_p50_ms": (p50 * 1000 * 10).rounded() / 10,
            "e2e_p99_ms": (p99 * 1000 * 10).rounded() / 10,
            "worker_peak_rss_mb": peakRSS,
        ]) { bare, _ in bare }
    }

    /// The database server's processes (empty when it is on another host: their CPU is then not reported).
    static func serverProcesses(_ database: DatabaseOptions) async throws -> [Int32] {
        try await database.withConnection { connection in
            try await connection.query("SELECT pid FROM pg_stat_activity").map { try $0.decode(Int32.self, column: 0) }
        }
    }

    /// Bare `crypto_sign_verify_detached` on 2 threads, per second (measured from threads of its own, which the
    /// calling task waits for without blocking the cooperative pool).
    private func measureCeiling() async throws -> Double {
        let seconds = ceilingSeconds
        return try await BenchHarness.onThread {
            BenchHarness.rate(threads: 2, seconds: seconds) {
                let raw = RawSodiumCeiling(bodyCount: 256)
                return { _ = raw.verifyOnce() }
            }.perSecond
        }
    }

    // MARK: The latency phase's query: the one place that names the message table.

    /// End-to-end latency of the messages created since `since` to `owners`: `created_at` (the producer's clock
    /// at sealing) to `stored_at` (the worker's batch transaction, which commits a few milliseconds later).
    /// Columns: p50 and p99 in seconds, and the number of messages measured.
    static func latencyQuery(since: Date, owners: [[UInt8]]) -> PostgresQuery {
        """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - created_at)),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - created_at)),
               count(*)
        FROM messages WHERE created_at >= \(since) AND recipient = ANY(\(PostgresArray(owners)))
        """
    }

    // MARK: Pacing

    /// What the pacing tasks offered.
    struct Pacing {
        /// Envelopes sealed and handed to the producer.
        var offered: Int
        /// `offered` over the time from the phase's start to the last hand-over: the rate really offered.
        var perSecond: Double
        /// How late the latest envelope was sealed after its turn in the schedule (under a tick, 5 ms, when the
        /// tasks kept up).
        var maxLagSeconds: Double
        /// Sealing to the broker's acknowledgement.
        var ackP50: Double
        var ackP99: Double
    }

    /// Offers `rate` envelopes/s for `seconds`, split over `tasks` tasks. Envelope *n* (of all tasks) is due at
    /// *n* / `rate` s; every millisecond-scale tick each task seals its due share and hands it to the producer at
    /// once, so `created_at` is the send time and a task that fell behind catches up instead of stretching the
    /// phase. Signing (the bodies were encrypted beforehand) runs on the tasks, in parallel.
    static func offer(
        rate: Int,
        seconds: Int,
        tasks: Int,
        identities: [Identity],
        body: [UInt8],
        topic: String,
        producer: KafkaProducer
    ) async throws -> Pacing {
        let total = rate * seconds
        let acks = AckLog(capacity: total)
        // Bodies are encrypted before the clock starts, once per (sender, recipient) pair the schedule uses;
        // each envelope is then signed with a fresh id and time when it is sent (docs/BENCHMARKS.md says why).
        let templates = try identities.indices.map { index in
            try Envelope.seal(
                from: identities[index],
                to: identities[(index * 13 + 1) % identities.count].publicKey,
                body: body
            )
        }
        let clock = ContinuousClock()
        let begin = clock.now
        let tick = Duration.milliseconds(5)
        let perTask = try await withThrowingTaskGroup(
            of: (count: Int, last: ContinuousClock.Instant, lag: Duration).self
        ) { group in
            for task in 0..<tasks {
                group.addTask {
                    var next = task  // this task's next envelope number: task, task + tasks, …
                    var count = 0
                    var last = begin
                    var lag = Duration.zero
                    // Stagger the tasks' ticks so their bursts interleave.
                    var wake = begin + tick * (Double(task) / Double(tasks))
                    while next < total {
                        try await clock.sleep(until: wake)
                        let now = clock.now
                        let due = min(total, Int(((now - begin).seconds * Double(rate)).rounded(.down)) + 1)
                        while next < due {
                            let sender = identities[next % identities.count]
                            let recipient = identities[(next * 13 + 1) % identities.count].publicKey
                            let envelope = Envelope.resigning(templates[next % identities.count], from: sender)
                            let sealed = clock.now
                            lag = max(lag, sealed - (begin + .nanoseconds(Int64(Double(next) / Double(rate) * 1e9))))
                            await producer.enqueue(topic: topic, key: recipient.bytes, value: envelope.serialized()) {
                                result in
                                acks.record(result, after: clock.now - sealed)
                            }
                            last = clock.now
                            count += 1
                            next += tasks
                        }
                        wake = wake + tick
                        if wake < clock.now { wake = clock.now }
                    }
                    return (count, last, lag)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        _ = await producer.flush()
        let offered = perTask.reduce(0) { $0 + $1.count }
        let end = perTask.map(\.last).max() ?? begin
        let (p50, p99, failed) = acks.summary()
        guard failed == 0 else { throw CLIError("\(failed) envelopes of the latency phase were not acknowledged") }
        return Pacing(
            offered: offered,
            // The last envelope is due at (total - 1) / rate: measure the span up to it, not a whole extra period.
            perSecond: Double(max(0, offered - 1)) / max(0.001, (end - begin).seconds),
            maxLagSeconds: (perTask.map(\.lag).max() ?? .zero).seconds,
            ackP50: p50,
            ackP99: p99
        )
    }

    /// Acknowledgement latencies, recorded on librdkafka's delivery-report thread.
    final class AckLog: Sendable {
        private let state: Mutex<(latencies: [Double], failed: Int)>

        init(capacity: Int) {
            var latencies: [Double] = []
            latencies.reserveCapacity(capacity)
            state = Mutex((latencies, 0))
        }

        func record(_ result: Result<KafkaDeliveryReport, KafkaError>, after latency: Duration) {
            state.withLock { state in
                if case .success = result { state.latencies.append(latency.seconds) } else { state.failed += 1 }
            }
        }

        /// p50 and p99 in seconds, and the number of failed sends.
        func summary() -> (Double, Double, Int) {
            state.withLock { state in
                let sorted = state.latencies.sorted()
                guard !sorted.isEmpty else { return (0, 0, state.failed) }
                return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 99 / 100)], state.failed)
            }
        }
    }

    /// Starts a worker process; with `MAILROOM_BENCH_WORKER_LOG=path` its log goes to `path.<phase>`.
    private func startWorker(topics: MailroomTopics, metricsPort: Int, phase: String) throws -> Process {
        try WorkerDrain.start(
            [
                "worker", "--topic", topics.envelopes, "--dlq-topic", topics.deadLetters,
                "--group", "bench-\(topics.envelopes)", "--metrics-port", "\(metricsPort)",
                "--batch-size", "\(batchSize)", "--batch-linger-ms", "\(batchLinger)",
            ] + (fetchWait.map { ["--kafka-property", "fetch.wait.max.ms=\($0)"] } ?? [])
                + (workerPrecomputedKeys.map { ["--precomputed-keys", "\($0)"] } ?? [])
                + (database.databaseURL.map { ["--database-url", $0] } ?? [])
                + (kafka.brokers.map { ["--brokers", $0] } ?? []),
            phase: phase
        )
    }

    /// The mailboxes that send the backlog.
    private var backlogSenders: Int { max(1, min(senders, mailboxes)) }

    /// The sum of the samples in Prometheus text whose line `matches`.
    static func sampleSum(_ text: String, where matches: (Substring) -> Bool) -> Double {
        text.split(separator: "\n")
            .filter { !$0.hasPrefix("#") && matches($0) }
            .reduce(0) { $0 + (Double($1.split(separator: " ").last ?? "0") ?? 0) }
    }

    /// Records the worker finished (stored, redelivered or rejected), from its Prometheus endpoint.
    static func scrape(port: Int) async throws -> Double {
        sampleSum(try MetricsEndpoint.scrape(port: port)) { line in
            line.hasPrefix("mailroom_worker_stored_total") || line.hasPrefix("mailroom_worker_redelivered_total")
                || line.hasPrefix("mailroom_worker_rejected_total")
        }
    }

    /// The worker's signature checks by path (`table`, `libsodium`: docs/ARCHITECTURE.md, "Signature checks"), from
    /// its Prometheus endpoint.
    static func scrapeSignatureChecks(port: Int) throws -> [String: Double] {
        let text = try MetricsEndpoint.scrape(port: port)
        var checks: [String: Double] = [:]
        for path in ["table", "libsodium"] {
            checks[path] = sampleSum(text) {
                $0.hasPrefix("mailroom_worker_signature_checks_total{") && $0.contains("path=\"\(path)\"")
            }
        }
        return checks
    }

    /// Peak resident set (VmHWM) of a process, in MiB.
    static func peakRSSMegabytes(pid: Int32) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return -1 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            return (kilobytes / 1024 * 10).rounded() / 10
        }
        return -1
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
