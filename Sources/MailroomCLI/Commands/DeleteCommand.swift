import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomQuery

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete one message from the identity's inbox (or, with --sentbox, its sentbox).",
        discussion: """
            Only the identity's own copy is deleted: the other party keeps theirs. \(QueryCLI.exitStatusHelp)
            """
    )

    @Argument(help: ArgumentHelp("The message id.", valueName: "id")) var id: String
    @Flag(help: "Delete from the sentbox instead of the inbox.") var sentbox = false
    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await QueryCLI.reporting {
            let me = try identity.load()
            let messageID = try QueryCLI.parseID(id)
            try await QueryCLI.withClient(database) { client in
                if sentbox {
                    try await client.deleteSentboxMessage(owner: me.publicKey, id: messageID)
                } else {
                    try await client.deleteInboxMessage(owner: me.publicKey, id: messageID)
                }
            }
            let box = sentbox ? "sentbox" : "inbox"
            if json {
                CLIOutput.json(["id": messageID.description, "box": box, "deleted": true])
            } else {
                CLIOutput.line("deleted \(messageID) from the \(box)")
            }
        }
    }
}
