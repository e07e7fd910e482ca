import ArgumentParser
import Foundation
@_spi(Benchmarks) import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomProducer
import MailroomStore
import MailroomWorker
import Synchronization

/// `mailroom bench pipeline`: produce a backlog, time a worker draining it, then measure end-to-end latency at
/// a fixed offered rate — beside the raw libsodium 2-thread verification ceiling measured in the same run.
struct PipelineBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Producer and worker throughput and end-to-end latency against the configured broker and database.",
        discussion: """
            Starts nothing itself: it uses $MAILROOM_BROKERS and $MAILROOM_DATABASE_URL (migrated), creates fresh \
            topics and mailboxes for the run, and runs the worker as a separate `mailroom worker` process so that \
            its peak RSS is its own. Build with `swift build -c release` first.
            """)

    @Option(help: "Backlog size.") var envelopes: Int = 200_000
    @Option(help: "Mailboxes (each is both a sender and a recipient).") var mailboxes: Int = 1_000
    @Option(help: "Partitions of the bench topic.") var partitions: Int = 6
    @Option(name: .customLong("body-bytes"), help: "Plaintext body size.") var bodyBytes: Int = 256
    @Option(help: "Offered rate (envelopes/s) for the latency phase.") var rate: Int = 5_000
    @Option(name: .customLong("latency-seconds"), help: "Length of the latency phase.") var latencySeconds: Int = 20
    @Option(name: .customLong("batch-size"), help: "Worker batch size.") var batchSize: Int = 2_000
    @Option(name: .customLong("batch-linger-ms"), help: "Worker batch linger.") var batchLinger: Int = 20
    @Option(name: .customLong("producer-linger-ms"), help: "Producer linger.ms.") var producerLinger: Int = 5
    @Option(name: .customLong("ceiling-seconds"), help: "Seconds to measure the raw verify ceiling.") var ceilingSeconds: Double = 4
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions

    func run() async throws {
        try await reportingErrors {
            let report = try await measure()
            if json {
                CLIOutput.json(report)
            } else {
                for key in report.keys.sorted() { CLIOutput.line("\(key.padding(toLength: 30, withPad: " ", startingAt: 0)) \(report[key]!)") }
            }
        }
    }

    private func note(_ text: String) {
        if !json { CLIOutput.error(text) }
    }

    private func measure() async throws -> [String: Any] {
        // 1. The ceiling, on an otherwise idle process: bare crypto_sign_verify_detached on 2 threads.
        note("measuring raw libsodium verify ceiling (2 threads, \(ceilingSeconds) s)…")
        let ceiling = BenchHarness.rate(threads: 2, seconds: ceilingSeconds) {
            let raw = RawSodiumCeiling(bodyCount: 256)
            return { _ = raw.verifyOnce() }
        }.perSecond

        // 2. Fresh topics and mailboxes for this run.
        let suffix = Int(Date().timeIntervalSince1970)
        let topics = MailroomTopics(envelopes: "bench-envelopes-\(suffix)", deadLetters: "bench-dlq-\(suffix)")
        var kafkaConfiguration = try kafka.configuration(clientID: "mailroom-bench")
        kafkaConfiguration.overrides["linger.ms"] = "\(producerLinger)"
        _ = try await KafkaAdmin.createTopics(
            [topics.envelopes, topics.deadLetters], partitions: partitions, configuration: kafkaConfiguration)
        let identities = (0..<mailboxes).map { _ in Identity.generate() }
        try await database.withConnection { connection in
            _ = try await connection.query(
                "INSERT INTO mailboxes (owner) SELECT * FROM unnest(\(PostgresArray(identities.map { $0.publicKey.bytes }))) ON CONFLICT DO NOTHING")
        }
        let body = [UInt8](repeating: 0x61, count: bodyBytes)

        // 3. The backlog: sealed on all cores while producing.
        note("producing a backlog of \(envelopes) envelopes…")
        let producer = try MailroomProducer(.init(kafka: kafkaConfiguration, topics: topics, maxInFlight: 50_000))
        let senders = min(50, identities.count)
        let produceStart = ContinuousClock.now
        var failed = 0
        for senderIndex in 0..<senders {
            let count = envelopes / senders + (senderIndex < envelopes % senders ? 1 : 0)
            let messages = (0..<count).map { n in
                BulkMessage(recipient: identities[(n * 7 + senderIndex) % identities.count].publicKey.hexString, body: body)
            }
            failed += await producer.sendBulk(from: identities[senderIndex], messages: messages).filter { !$0.isSent }.count
        }
        let produceSeconds = (ContinuousClock.now - produceStart).seconds
        guard failed == 0 else { throw CLIError("\(failed) envelopes of the backlog were not acknowledged") }

        // 4. Drain it with a worker process, timed from its first record to its last.
        let metricsPort = Int.random(in: 40_000...49_000)
        let worker = try startWorker(topics: topics, metricsPort: metricsPort)
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL) } }
        note("worker \(worker.processIdentifier) draining…")
        var first: (ContinuousClock.Instant, Double)?
        var last: (ContinuousClock.Instant, Double) = (.now, 0)
        let drainDeadline = ContinuousClock.now + .seconds(max(120, envelopes / 1_000))
        while ContinuousClock.now < drainDeadline {
            try await Task.sleep(for: .milliseconds(50))
            guard worker.isRunning else { throw CLIError("the worker exited during the bench") }
            guard let done = try? await Self.scrape(port: metricsPort) else { continue }
            if first == nil, done > 0 { first = (.now, done) }
            last = (.now, done)
            if done >= Double(envelopes) { break }
        }
        guard let start = first, last.1 >= Double(envelopes) else {
            throw CLIError("the worker did not drain the backlog in time (\(Int(last.1)) of \(envelopes))")
        }
        let ingestRate = (last.1 - start.1) / max(0.001, (last.0 - start.0).seconds)

        // 5. End-to-end latency at a fixed offered rate, producer and worker together.
        note("offering \(rate) envelopes/s for \(latencySeconds) s…")
        let phaseStart = Date()
        let kafkaProducer = try KafkaProducer(.init(kafka: kafkaConfiguration, maxInFlight: 50_000))
        let ticks = latencySeconds * 100
        let perTick = Double(rate) / 100
        var owed = 0.0
        var offered = 0
        let clock = ContinuousClock()
        let phaseBegin = clock.now
        for tick in 0..<ticks {
            owed += perTick
            while owed >= 1 {
                owed -= 1
                let sender = identities[offered % identities.count]
                let recipient = identities[(offered * 13 + 1) % identities.count].publicKey
                let envelope = try Envelope.seal(from: sender, to: recipient, body: body)
                await kafkaProducer.enqueue(topic: topics.envelopes, key: recipient.bytes, value: envelope.serialized()) { _ in }
                offered += 1
            }
            try await clock.sleep(until: phaseBegin + .milliseconds(10 * (tick + 1)))
        }
        let offeredSeconds = (clock.now - phaseBegin).seconds
        await kafkaProducer.close()
        let target = Double(envelopes + offered)
        while ContinuousClock.now < drainDeadline + .seconds(60) {
            if let done = try? await Self.scrape(port: metricsPort), done >= target { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let peakRSS = Self.peakRSSMegabytes(pid: worker.processIdentifier)
        worker.terminate()
        worker.waitUntilExit()

        // Latency per message: created_at (the producer's clock at sealing) to stored_at (the worker's batch
        // transaction, which commits a few milliseconds later).
        let (p50, p99, measured) = try await database.withConnection { connection in
            let row = try await connection.query(
                """
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - created_at)),
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - created_at)),
                       count(*)
                FROM messages WHERE created_at >= \(phaseStart) AND recipient = ANY(\(PostgresArray(identities.map { $0.publicKey.bytes })))
                """
            ).single()
            return (try row.decode(Double.self, column: 0), try row.decode(Double.self, column: 1), try row.decode(Int64.self, column: 2))
        }
        await producer.close()

        return [
            "envelopes": envelopes,
            "mailboxes": mailboxes,
            "partitions": partitions,
            "body_bytes": bodyBytes,
            "worker_batch_size": batchSize,
            "worker_batch_linger_ms": batchLinger,
            "producer_linger_ms": producerLinger,
            "produced_per_s": (Double(envelopes) / produceSeconds).rounded(),
            "ingested_per_s": ingestRate.rounded(),
            "raw_verified_per_s_2_threads": ceiling.rounded(),
            "ingest_vs_ceiling": (ingestRate / ceiling * 1000).rounded() / 1000,
            "offered_per_s": (Double(offered) / offeredSeconds).rounded(),
            "e2e_measured": measured,
            "e2e_p50_ms": (p50 * 1000 * 10).rounded() / 10,
            "e2e_p99_ms": (p99 * 1000 * 10).rounded() / 10,
            "worker_peak_rss_mb": peakRSS,
        ]
    }

    private func startWorker(topics: MailroomTopics, metricsPort: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        process.arguments = [
            "worker", "--topic", topics.envelopes, "--dlq-topic", topics.deadLetters,
            "--group", "bench-\(topics.envelopes)", "--metrics-port", "\(metricsPort)",
            "--batch-size", "\(batchSize)", "--batch-linger-ms", "\(batchLinger)",
        ] + (database.databaseURL.map { ["--database-url", $0] } ?? []) + (kafka.brokers.map { ["--brokers", $0] } ?? [])
        var environment = ProcessInfo.processInfo.environment
        environment["MAILROOM_LOG_LEVEL"] = ProcessInfo.processInfo.environment["MAILROOM_BENCH_WORKER_LOG_LEVEL"] ?? "warning"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        if let path = ProcessInfo.processInfo.environment["MAILROOM_BENCH_WORKER_LOG"] {
            FileManager.default.createFile(atPath: path, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: path)
        }
        try process.run()
        return process
    }

    /// Records the worker finished (stored, redelivered or rejected), from its Prometheus endpoint.
    static func scrape(port: Int) async throws -> Double {
        let text = try MetricsEndpoint.scrape(port: port)
        var total = 0.0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if line.hasPrefix("mailroom_worker_stored_total") || line.hasPrefix("mailroom_worker_redelivered_total")
                || line.hasPrefix("mailroom_worker_rejected_total")
            {
                total += Double(line.split(separator: " ").last ?? "0") ?? 0
            }
        }
        return total
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
