import ArgumentParser
import MailroomCLISupport
import MailroomKafka

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Manage Mailroom's Kafka topics.",
        subcommands: [Create.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the envelope topic and the dead-letter topic (existing ones are left alone).",
            discussion: """
                Partitions bound how many workers can share the load: a group uses at most one worker per partition. \
                A recipient's mail always lands on one partition (the key is the recipient's key), so raising the \
                count later moves recipients between partitions: choose it generously up front.
                """
        )

        @OptionGroup var kafka: KafkaOptions
        @Option(help: "Partitions per topic.") var partitions: Int = 12
        @Option(name: .customLong("replication-factor"), help: "Copies of each partition.") var replicationFactor: Int =
            1

        func run() async throws {
            try await reportingErrors {
                guard partitions > 0, replicationFactor > 0 else {
                    throw CLIError("partitions and replication factor must be positive")
                }
                let topics = kafka.topics
                let outcomes = try await KafkaAdmin.createTopics(
                    [topics.envelopes, topics.deadLetters],
                    partitions: partitions,
                    replicationFactor: replicationFactor,
                    configuration: try kafka.configuration()
                )
                for name in [topics.envelopes, topics.deadLetters] {
                    let outcome = outcomes[name] == .created ? "created" : "already exists"
                    CLIOutput.line("\(name): \(outcome)")
                }
            }
        }
    }
}
