import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomStore

struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Set up the identity's mailbox, so that others can write to it (idempotent).",
        discussion: """
            --owner sets up the mailbox of a public key whose private key stays on its owner's device: an operator \
            action, for whoever holds the database credentials (the API asks the key's owner for a signature \
            instead).
            """
    )

    @OptionGroup var identity: IdentityOptions
    @Option(
        help: ArgumentHelp(
            "Set up this public key's mailbox (Textile key string or hex) without loading its private key.",
            valueName: "key"
        )
    )
    var owner: String?
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await reportingErrors {
            let key = try owner.map(QueryCLI.parseOwner) ?? identity.load().publicKey
            let created = try await database.withConnection { connection in
                try await MailboxQueries.setup(owner: key.bytes, on: connection)
            }
            if json {
                CLIOutput.json([
                    "public_key": key.textileString, "created_at": ISO8601DateFormatter().string(from: created),
                ])
            } else {
                CLIOutput.line(
                    "mailbox for \(key.textileString) is ready (since \(ISO8601DateFormatter().string(from: created)))"
                )
            }
        }
    }
}
