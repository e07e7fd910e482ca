import ArgumentParser
import Foundation
import MailroomCore
import MailroomStore

struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Set up the identity's mailbox, so that others can write to it (idempotent).")

    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await reportingErrors {
            let key = try identity.load().publicKey
            let created = try await database.withConnection { connection in
                try await MailboxQueries.setup(owner: key.bytes, on: connection)
            }
            if json {
                CLIOutput.json(["public_key": key.textileString, "created_at": ISO8601DateFormatter().string(from: created)])
            } else {
                CLIOutput.line("mailbox for \(key.textileString) is ready (since \(ISO8601DateFormatter().string(from: created)))")
            }
        }
    }
}
