import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomKafka
import MailroomWorker

struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect and replay dead-lettered envelopes.",
        subcommands: [Replay.self]
    )

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead-lettered envelopes back to the envelope topic, once their cause is fixed.",
            discussion: """
                Reads the dead-letter topic as consumer group --group (so a second replay continues where the first \
                stopped), puts each envelope back on the envelope topic with its original key, and commits only what \
                the broker acknowledged. A run replays what the topic held when it started, never the dead letters \
                its own replays cause. Each replay adds one to the record's mailroom.replay-count header; a dead \
                letter replayed --max-replays times already is skipped. Permanent reasons (bad_signature, \
                truncated, key_mismatch, duplicate_message_id, envelope_too_old, …) are skipped unless named by \
                --reason or --include-permanent is given. --reason replays only that reason (others are skipped and \
                also committed). It stops after --idle-ms without dead letters to handle, or after --max envelopes.
                """
        )

        @OptionGroup var kafka: KafkaOptions
        @Option(help: "Consumer group that remembers how far replay got.") var group: String = "mailroom-dlq-replay"
        @Option(help: "Replay only dead letters with this reason code.") var reason: String?
        @Flag(name: .customLong("include-permanent"), help: "Replay dead letters with permanent reasons too.")
        var includePermanent = false
        @Option(
            name: .customLong("max-replays"),
            help: "Skip dead letters replayed this many times already (default 3)."
        ) var maxReplays: Int = 3
        @Option(help: "Replay at most this many.") var max: Int?
        @Option(name: .customLong("idle-ms"), help: "Stop after this long without dead letters.") var idleMilliseconds:
            Int = 8_000
        @Flag(help: "Print the summary as one JSON object.") var json = false

        func validate() throws {
            guard maxReplays >= 1 else { throw ValidationError("--max-replays must be at least 1") }
        }

        func run() async throws {
            try await reportingErrors {
                var configuration = DeadLetterReplay.Configuration(
                    kafka: try kafka.configuration(clientID: "mailroom-dlq-replay"),
                    topics: kafka.topics
                )
                configuration.groupID = group
                configuration.reason = reason
                configuration.includePermanent = includePermanent
                configuration.maxReplays = maxReplays
                configuration.limit = max
                configuration.idleTimeout = .milliseconds(Swift.max(0, idleMilliseconds))
                let report = try await DeadLetterReplay(configuration: configuration, logger: CLILogging.logger("dlq"))
                    .run()
                if json {
                    CLIOutput.json([
                        "replayed": report.replayed, "skipped": report.skipped,
                        "skipped_other_reason": report.skippedOtherReason, "skipped_permanent": report.skippedPermanent,
                        "skipped_exhausted": report.skippedExhausted, "skipped_empty": report.skippedEmpty,
                    ])
                } else {
                    CLIOutput.line(
                        "replayed \(report.replayed) dead letter(s) to \(kafka.topics.envelopes); skipped \(report.skipped) "
                            + "(\(report.skippedPermanent) permanent, \(report.skippedExhausted) replayed "
                            + "\(maxReplays) times already, \(report.skippedOtherReason) other reasons, "
                            + "\(report.skippedEmpty) empty)"
                    )
                }
            }
        }
    }
}
