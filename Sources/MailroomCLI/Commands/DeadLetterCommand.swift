import ArgumentParser
import Foundation
import MailroomKafka
import Synchronization

struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect and replay dead-lettered envelopes.", subcommands: [Replay.self])

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead-lettered envelopes back to the envelope topic, once their cause is fixed.",
            discussion: """
                Reads the dead-letter topic as consumer group --group (so a second replay continues where the first \
                stopped), puts each envelope back on the envelope topic with its original key, and commits only what \
                the broker acknowledged. --reason replays only that reason (others are skipped and also committed). \
                It stops after --idle-ms without new dead letters, or after --max envelopes.
                """)

        @OptionGroup var kafka: KafkaOptions
        @Option(help: "Consumer group that remembers how far replay got.") var group: String = "mailroom-dlq-replay"
        @Option(help: "Replay only dead letters with this reason code.") var reason: String?
        @Option(help: "Replay at most this many.") var max: Int?
        @Option(name: .customLong("idle-ms"), help: "Stop after this long without dead letters.") var idleMilliseconds: Int = 8_000
        @Flag(help: "Print the summary as one JSON object.") var json = false

        func run() async throws {
            try await reportingErrors {
                let configuration = try kafka.configuration(clientID: "mailroom-dlq-replay")
                let topics = kafka.topics
                let consumer = try KafkaConsumer(
                    .init(kafka: configuration, groupID: group, topics: [topics.deadLetters]), logger: CLILogging.logger("dlq"))
                let producer = try KafkaProducer(.init(kafka: configuration), logger: CLILogging.logger("dlq"))
                var replayed = 0
                var skipped = 0
                var lastRecord = ContinuousClock.now
                let limit = max ?? Int.max
                while replayed < limit, ContinuousClock.now - lastRecord < .milliseconds(idleMilliseconds) {
                    let batch = await consumer.poll(maxRecords: 500, timeout: .milliseconds(500))
                    guard !batch.records.isEmpty else { continue }
                    lastRecord = .now
                    var handled: [KafkaRecord] = []
                    for record in batch.records {
                        if replayed >= limit { break }
                        handled.append(record)
                        let recordReason = record.header("mailroom.reason").map { String(decoding: $0, as: UTF8.self) }
                        if let reason, recordReason != reason { skipped += 1; continue }
                        if record.header("mailroom.original.null-value") != nil { skipped += 1; continue }
                        _ = try await producer.send(topic: topics.envelopes, key: record.key ?? [], value: record.value ?? [])
                        replayed += 1
                    }
                    try consumer.storeOffsets(after: handled)
                }
                try await consumer.commit()
                await consumer.close()
                await producer.close()
                if json {
                    CLIOutput.json(["replayed": replayed, "skipped": skipped])
                } else {
                    CLIOutput.line("replayed \(replayed) dead letter(s) to \(topics.envelopes); skipped \(skipped)")
                }
            }
        }
    }
}
