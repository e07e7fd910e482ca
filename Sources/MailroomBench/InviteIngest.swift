import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomWorker
import Synchronization

/// The ingest side of `mailroom-bench invites`: a backlog of invite batches (envelope format v2, one shared body
/// per batch) drained by a `mailroom worker` process, and what the stored invites take in PostgreSQL.
struct InviteIngest {
    var recipients: Int
    var batchRecipients: Int
    var senders: Int
    var bodyBytes: Int
    var partitions: Int
    var workerBatchSize: Int
    var brokerPID: Int32?
    var database: DatabaseOptions
    var kafka: KafkaOptions
    var note: (String) -> Void

    /// Bytes of the message tables (heap, TOAST, indexes), of the shared payloads in them, and the batch
    /// recipients' rows.
    static let sizesQuery: PostgresQuery = """
        SELECT pg_total_relation_size('messages') + pg_total_relation_size('message_batches')
                   + pg_total_relation_size('message_batch_paths'),
               coalesce((SELECT sum(octet_length(payload)) FROM message_batches), 0)::bigint,
               (SELECT count(*) FROM messages WHERE batch_id IS NOT NULL)
        """

    func run() async throws -> [String: Any] {
        let suffix = Int(Date().timeIntervalSince1970)
        let topics = MailroomTopics(envelopes: "bench-invites-\(suffix)", deadLetters: "bench-invites-dlq-\(suffix)")
        let configuration = try kafka.configuration(clientID: "mailroom-bench")
        _ = try await KafkaAdmin.createTopics(
            [topics.envelopes, topics.deadLetters],
            partitions: partitions,
            configuration: configuration
        )
        note("making \(recipients) recipients and \(senders) senders…")
        let senderIdentities = (0..<senders).map { _ in Identity.generate() }
        let recipientKeys = (0..<recipients).map { _ in Identity.generate().publicKey }
        try await database.withConnection { connection in
            try await BenchDatabase.addMailboxes(
                (senderIdentities.map(\.publicKey) + recipientKeys).map(\.bytes),
                on: connection
            )
        }
        let body = [UInt8](repeating: 0x69, count: bodyBytes)

        note("producing \(recipients) invite recipients in batches of \(batchRecipients)…")
        let producer = try KafkaProducer(.init(kafka: configuration, maxInFlight: 50_000))
        var records = 0
        var batches = 0
        let failures = FailureCount()
        for (index, start) in stride(from: 0, to: recipients, by: batchRecipients).enumerated() {
            let sender = senderIdentities[index % senders]
            let keys = Array(recipientKeys[start..<min(start + batchRecipients, recipients)])
            let batch = try BatchEnvelope.sealShared(from: sender, to: keys, body: body)
            await producer.enqueue(
                topic: topics.envelopes,
                key: sender.publicKey.bytes,
                value: batch.senderCopy.serialized()
            ) { if case .failure = $0 { failures.add() } }
            for record in batch.recipientEnvelopes() {
                await producer.enqueue(topic: topics.envelopes, key: record.kafkaKey, value: record.serialized()) {
                    if case .failure = $0 { failures.add() }
                }
            }
            records += keys.count + 1
            batches += 1
        }
        await producer.close()
        guard failures.value == 0 else {
            throw CLIError("\(failures.value) records of the backlog were not acknowledged")
        }

        let (bytesBefore, payloadBefore, rowsBefore) = try await sizes()
        let metricsPort = Int.random(in: 40_000...49_000)
        let worker = try startWorker(topics: topics, metricsPort: metricsPort)
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL) } }
        note("worker \(worker.processIdentifier) draining \(records) records…")
        // The worker, the broker and the database server's processes, from the first record stored to the last.
        func snapshot() async -> ProcessCPU {
            ProcessCPU(
                ["worker": worker.processIdentifier, "broker": brokerPID],
                server: (try? await PipelineBenchCommand.serverProcesses(database)) ?? []
            )
        }
        let drain = try await WorkerDrain.drain(
            worker,
            metricsPort: metricsPort,
            records: records,
            what: "the invites",
            snapshot: snapshot
        )
        let peakRSS = PipelineBenchCommand.peakRSSMegabytes(pid: worker.processIdentifier)
        worker.terminate()
        await BenchHarness.waitForExit(worker)
        // Records per second, counted as recipients (each batch's sender copy is one record more).
        let drained = drain.records * Double(recipients) / Double(records)
        let ingested = drained / max(0.001, drain.seconds)
        // The paths that waited for their batch's recipient list are deleted rows now: reclaim them as autovacuum
        // does, before measuring what stays.
        try await database.withConnection { connection in
            try await connection.executeScript("VACUUM message_batch_paths")
        }
        let (bytesAfter, payloadAfter, rowsAfter) = try await sizes()
        let stored = rowsAfter - rowsBefore
        let cpu = drain.cpuMicroseconds(per: drained)
        let payload = Double(payloadAfter - payloadBefore)
        let perRecipient = (Double(bytesAfter - bytesBefore) - payload) / Double(recipients)
        return [
            "invite_recipients": recipients,
            "invite_batches": batches,
            "invite_recipients_per_batch": batchRecipients,
            "invite_recipients_stored_total": stored,
            "invite_recipients_ingested_per_s": ingested.rounded(),
            "invite_stored_bytes_per_recipient": perRecipient.rounded(),
            "invite_payload_bytes_per_recipient": (payload / Double(recipients) * 10).rounded() / 10,
            "invite_worker_peak_rss_mb": peakRSS,
            "invite_drain_cpu_us_per_recipient": cpu,
            "target_invite_recipients_ingested_per_s": 50_000,
            "target_invite_stored_bytes_per_recipient": 512,
        ]
    }

    private func sizes() async throws -> (Int64, Int64, Int64) {
        try await database.withConnection { connection in
            let row = try await connection.query(Self.sizesQuery).single()
            return try row.decode(Int64.self, Int64.self, Int64.self)
        }
    }

    private func startWorker(topics: MailroomTopics, metricsPort: Int) throws -> Process {
        try WorkerDrain.start(
            [
                "worker", "--topic", topics.envelopes, "--dlq-topic", topics.deadLetters,
                "--group", "bench-\(topics.envelopes)", "--metrics-port", "\(metricsPort)",
                "--batch-size", "\(workerBatchSize)",
            ] + (database.databaseURL.map { ["--database-url", $0] } ?? [])
                + (kafka.brokers.map { ["--brokers", $0] } ?? []),
            phase: "invites"
        )
    }
}

/// Delivery failures, counted from librdkafka's callbacks.
private final class FailureCount: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
