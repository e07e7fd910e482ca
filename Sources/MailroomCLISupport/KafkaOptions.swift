public import ArgumentParser
import Foundation
public import MailroomKafka

/// `--brokers` (default `$MAILROOM_BROKERS`) and the topic names.
public struct KafkaOptions: ParsableArguments, Sendable {
    public init() {}

    @Option(help: ArgumentHelp("Kafka bootstrap servers (default: $MAILROOM_BROKERS).", valueName: "host:port,…"))
    public var brokers: String?

    @Option(help: ArgumentHelp("Envelope topic.", valueName: "name"))
    public var topic: String = MailroomTopics().envelopes

    @Option(name: .customLong("dlq-topic"), help: ArgumentHelp("Dead-letter topic.", valueName: "name"))
    public var deadLetterTopic: String = MailroomTopics().deadLetters

    @Option(
        name: .customLong("kafka-property"),
        help: ArgumentHelp(
            "A librdkafka property applied over Mailroom's defaults (repeatable), e.g. fetch.wait.max.ms=50.",
            valueName: "key=value"
        )
    )
    public var properties: [String] = []

    @Option(
        name: .customLong("kafka-properties-file"),
        help: ArgumentHelp(
            "A file of librdkafka key=value lines, e.g. SASL and TLS settings (default: $MAILROOM_KAFKA_PROPERTIES_FILE); --kafka-property wins over it.",
            valueName: "path"
        )
    )
    public var propertiesFile: String?

    public var topics: MailroomTopics { MailroomTopics(envelopes: topic, deadLetters: deadLetterTopic) }

    public func configuration(clientID: String = "mailroom-cli") throws -> KafkaConfiguration {
        let brokers = self.brokers ?? ProcessInfo.processInfo.environment["MAILROOM_BROKERS"] ?? ""
        guard !brokers.isEmpty else { throw CLIError("no broker: set MAILROOM_BROKERS or pass --brokers") }
        // librdkafka logs broker connection trouble itself; keep it to errors on the terminal.
        var overrides = ["log_level": "3"]
        // Secrets (sasl.password, ssl.key.password, …) belong in the file, never in arguments.
        if let file = propertiesFile
            ?? ProcessInfo.processInfo.environment["MAILROOM_KAFKA_PROPERTIES_FILE"].flatMap({ $0.isEmpty ? nil : $0 })
        {
            for (key, value) in try Secrets.properties(file: file, for: "Kafka properties") { overrides[key] = value }
        }
        for property in properties {
            guard let equals = property.firstIndex(of: "="), equals != property.startIndex else {
                throw CLIError("--kafka-property wants key=value, got '\(property)'")
            }
            overrides[String(property[..<equals])] = String(property[property.index(after: equals)...])
        }
        return KafkaConfiguration(brokers: brokers, clientID: clientID, overrides: overrides)
    }
}
