import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomQuery

struct UnreadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unread",
        abstract: "Print how many inbox messages the identity has not read.",
        discussion: QueryCLI.exitStatusHelp
    )

    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await QueryCLI.reporting {
            let me = try identity.load()
            let count = try await QueryCLI.withClient(database) { client in
                try await client.unreadCount(owner: me.publicKey)
            }
            if json {
                CLIOutput.json(["unread": count])
            } else {
                CLIOutput.line("\(count) unread")
            }
        }
    }
}
