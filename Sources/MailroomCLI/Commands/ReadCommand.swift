import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomQuery

struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read one inbox message: mark it read, verify the sender's signature and decrypt it.",
        discussion: """
            The first read sets the message's read time; reading again shows the same time. \
            \(QueryCLI.exitStatusHelp)
            """
    )

    @Argument(help: ArgumentHelp("The message id.", valueName: "id")) var id: String
    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await QueryCLI.reporting {
            let me = try identity.load()
            let messageID = try QueryCLI.parseID(id)
            let message = try await QueryCLI.withClient(database) { client in
                try await client.readInboxMessage(owner: me.publicKey, id: messageID)
            }
            let body: [UInt8]
            do {
                body = try message.open(with: me)
            } catch {
                if json {
                    CLIOutput.json(["id": message.id.description, "verified": false, "error": QueryCLI.reason(error)])
                }
                CLIOutput.error("mailroom: message \(message.id) failed verification: \(QueryCLI.reason(error))")
                throw QueryCLI.verificationFailed
            }
            if json {
                var object: [String: Any] = [
                    "id": message.id.description, "sender": message.sender.textileString,
                    "created_at": QueryCLI.date(message.createdAt), "read_at": QueryCLI.date(message.readAt),
                    "verified": true,
                ]
                object.merge(QueryCLI.bodyFields(body)) { $1 }
                CLIOutput.json(object)
            } else {
                CLIOutput.line("id:       \(message.id)")
                CLIOutput.line("from:     \(message.sender.textileString)  (signature verified)")
                CLIOutput.line("created:  \(QueryCLI.date(message.createdAt))")
                CLIOutput.line("read:     \(QueryCLI.date(message.readAt))")
                CLIOutput.line("")
                CLIOutput.line(String(validating: body, as: UTF8.self) ?? "base64:" + Data(body).base64EncodedString())
            }
        }
    }
}
