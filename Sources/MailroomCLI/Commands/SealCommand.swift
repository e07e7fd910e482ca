import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomProducer

struct SealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Seal and sign an envelope on this machine and write its bytes; nothing is sent.",
        discussion: """
            The body comes from --body-file, or standard input (never from the command line, where `ps` would \
            show it). The envelope (format v1, docs/ENVELOPE.md) is \
            what a device hands to `mailroom submit`, the API or a Kafka producer: the private key never leaves \
            this process. Prints the message id.
            """
    )

    @OptionGroup var identity: IdentityOptions

    @Option(help: ArgumentHelp("Recipient's public key (Textile key string or 64 hex digits).", valueName: "key"))
    var to: String

    @Option(
        name: .customLong("body-file"),
        help: ArgumentHelp("File holding the message (default: standard input).", valueName: "file")
    )
    var bodyFile: String?

    @Option(
        name: .shortAndLong,
        help: ArgumentHelp(
            "Where to write the envelope bytes (- for standard output); an existing file is never replaced.",
            valueName: "file"
        )
    )
    var out: String

    @Option(name: .customLong("max-body-bytes"), help: ArgumentHelp("Largest body allowed.", valueName: "bytes"))
    var maxBodyBytes: Int = EnvelopeLimits().maxBodyBytes

    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await reportingErrors {
            let sender = try identity.load()
            let recipient = try MailroomProducer.parseRecipient(to)
            let body = try ByteInput.read(bodyFile)
            let envelope = try Envelope.seal(
                from: sender,
                to: recipient,
                body: body,
                limits: EnvelopeLimits(maxBodyBytes: maxBodyBytes)
            )
            let bytes = envelope.serialized()
            try ByteInput.writeNew(bytes, to: out)
            guard out != "-" else { return }
            if json {
                CLIOutput.json([
                    "id": envelope.id.description, "recipient": recipient.textileString, "bytes": bytes.count,
                    "file": out,
                ])
            } else {
                CLIOutput.line("sealed \(envelope.id) to \(recipient.textileString) (\(bytes.count) bytes) in \(out)")
            }
        }
    }
}
