import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomProducer

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send one message: sealed to the recipient, signed by you, acknowledged by the broker.",
        discussion: """
            The body comes from --body-file, or standard input (never from the command line, where `ps` would show it).
            """
    )

    @OptionGroup var identity: IdentityOptions
    @OptionGroup var kafka: KafkaOptions

    @Option(help: ArgumentHelp("Recipient's public key (Textile key string or 64 hex digits).", valueName: "key"))
    var to: String

    @Option(
        name: .customLong("body-file"),
        help: ArgumentHelp("File holding the message (default: standard input).", valueName: "file")
    )
    var bodyFile: String?
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await reportingErrors {
            let sender = try identity.load()
            let recipient = try MailroomProducer.parseRecipient(to)
            let bytes = try ByteInput.read(bodyFile)
            let producer = try MailroomProducer(
                .init(kafka: try kafka.configuration(), topics: kafka.topics, sendTimeout: .seconds(15)),
                logger: CLILogging.logger("producer")
            )
            do {
                let id = try await producer.send(from: sender, to: recipient, body: bytes)
                await producer.close()
                if json {
                    CLIOutput.json(["id": id.description, "to": recipient.textileString])
                } else {
                    CLIOutput.line("sent \(id) to \(recipient.textileString)")
                }
            } catch {
                await producer.close()
                throw error
            }
        }
    }
}
