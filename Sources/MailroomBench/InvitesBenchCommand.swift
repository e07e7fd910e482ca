import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore

/// `mailroom-bench invites`: invite recipients sealed per second as batch envelopes (format v2, one shared body,
/// one signature per batch: what `MailroomProducer.sendBulk` seals), beside single envelopes (format v1, what it
/// sealed per recipient before batches), same body size and threads, in alternating slices; with
/// `--ingest-recipients`, then a backlog of invites drained by a worker (``InviteIngest``).
struct InvitesBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invites",
        abstract: "Invite recipients sealed per second: batch envelopes (v2) beside single envelopes (v1).",
        discussion: """
            Each thread seals, over and over, either one batch of --recipients recipients with a shared
            --body-bytes body (every recipient's record and the sender's copy serialized) or single v1 envelopes
            of the same body to recipients of the same set. The two alternate in --rounds slices. Issue 19's
            target: invite_recipients_sealed_per_s at least 3 times single_envelopes_sealed_per_s.

            With --ingest-recipients N it then drains a backlog of N invite recipients (shared --ingest-body-bytes
            bodies, --ingest-batch recipients per batch) with a `mailroom worker` process against
            $MAILROOM_BROKERS and $MAILROOM_DATABASE_URL (migrated), and reports the ingest rate and the bytes the
            message tables grew by per recipient (the shared payloads apart). Issue 19's targets: 50,000/s and
            512 bytes. Build with `swift build -c release` first.
            """
    )

    @Option(help: "Recipients per batch.")
    var recipients: Int = 1_000

    @Option(help: "Plaintext body size in bytes.")
    var bodyBytes: Int = 1_024

    @Option(help: "Threads.")
    var threads: Int = 2

    @Option(help: "Seconds measured per side (split over --rounds).")
    var seconds: Double = 4

    @Option(help: "Alternating slices per side.")
    var rounds: Int = 8

    @Option(name: .customLong("ingest-recipients"), help: "Invite recipients to ingest; 0 (default) seals only.")
    var ingestRecipients: Int = 0

    @Option(name: .customLong("ingest-batch"), help: "Recipients per batch of the ingest backlog.")
    var ingestBatch: Int = 1_000

    @Option(name: .customLong("ingest-senders"), help: "Senders of the ingest backlog's batches.")
    var ingestSenders: Int = 20

    @Option(name: .customLong("ingest-body-bytes"), help: "Shared body size of the ingest backlog.")
    var ingestBodyBytes: Int = 1_024

    @Option(name: .customLong("ingest-partitions"), help: "Partitions of the ingest topic.")
    var ingestPartitions: Int = 6

    @Option(name: .customLong("worker-batch-size"), help: "The ingest worker's batch size.")
    var workerBatchSize: Int = 2_000

    @Option(
        name: .customLong("broker-pid"),
        help: "The broker's process id, to report its CPU during the drain (same host only)."
    )
    var brokerPID: Int32?

    @Flag(help: "Print one JSON object.")
    var json = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions

    func validate() throws {
        guard recipients > 0, recipients <= BatchLimits().maxRecipients, bodyBytes >= 0, threads > 0, seconds > 0,
            rounds > 0
        else {
            throw ValidationError(
                "--recipients must be 1 to \(BatchLimits().maxRecipients); --threads, --seconds and --rounds positive"
            )
        }
    }

    func run() async throws {
        let sender = Identity.generate()
        let keys = (0..<recipients).map { _ in Identity.generate().publicKey }
        let body = [UInt8](repeating: 0x2e, count: bodyBytes)
        let recipientCount = recipients
        var batch = BenchHarness.Rate()
        var single = BenchHarness.Rate()
        let slice = seconds / Double(rounds)
        for round in 0..<rounds {
            for side in [round % 2, 1 - round % 2] {
                if side == 0 {
                    // One operation: a batch of `recipients`, everything a producer puts on Kafka serialized.
                    let rate = BenchHarness.rate(threads: threads, seconds: slice, warmUp: 1) {
                        {
                            guard let sealed = try? BatchEnvelope.sealShared(from: sender, to: keys, body: body)
                            else { fatalError("sealing a valid batch failed") }
                            var bytes = sealed.senderCopy.serialized().count
                            for record in sealed.recipientEnvelopes() { bytes &+= record.serialized().count }
                            precondition(bytes > 0)
                        }
                    }
                    batch += BenchHarness.Rate(
                        perSecond: rate.perSecond * Double(recipientCount),
                        perCPUSecond: rate.perCPUSecond * Double(recipientCount)
                    )
                } else {
                    single += BenchHarness.rate(threads: threads, seconds: slice) {
                        var next = 0
                        return {
                            next = (next + 1) % keys.count
                            guard let envelope = try? Envelope.seal(from: sender, to: keys[next], body: body) else {
                                fatalError("sealing a valid envelope failed")
                            }
                            precondition(!envelope.serialized().isEmpty)
                        }
                    }
                }
            }
        }
        let round3 = { (value: Double) in (value * 1000).rounded() / 1000 }
        var ingest: [String: Any] = [:]
        if ingestRecipients > 0 {
            ingest = try await InviteIngest(
                recipients: ingestRecipients,
                batchRecipients: min(ingestBatch, BatchLimits().maxRecipients),
                senders: max(1, ingestSenders),
                bodyBytes: ingestBodyBytes,
                partitions: ingestPartitions,
                workerBatchSize: workerBatchSize,
                brokerPID: brokerPID,
                database: database,
                kafka: kafka,
                note: { CLIOutput.error($0) }
            ).run()
        }
        BenchHarness.print(
            ingest.merging([
                "recipients_per_batch": recipients, "body_bytes": bodyBytes, "threads": threads,
                "seconds_per_side": seconds,
                "invite_recipients_sealed_per_s": (batch.perSecond / Double(rounds)).rounded(),
                "single_envelopes_sealed_per_s": (single.perSecond / Double(rounds)).rounded(),
                "ratio": round3(batch.perSecond / max(single.perSecond, 1)),
                "target_ratio": 3,
            ]) { ingest, _ in ingest },
            json: json
        )
    }
}
