import ArgumentParser
import Foundation
import MailroomCore
import MailroomQuery

struct SentboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentbox",
        abstract: "List the messages the identity sent, a page at a time (newest first).",
        discussion: """
            Paging works as for `mailroom inbox`. With --open each message is verified and the identity's own \
            copy decrypted. \(QueryCLI.exitStatusHelp)
            """)

    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var page: PageOptions
    @Flag(help: "Verify and decrypt each message with the identity, and show its body.")
    var open = false
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await QueryCLI.reporting {
            let me = try identity.load()
            let seek = try page.seek.map(QueryCLI.parseID)
            let messages = try await QueryCLI.withClient(database) { client in
                try await client.listSentbox(
                    owner: me.publicKey, seek: seek, limit: page.limit, ascending: page.ascending)
            }
            var listing = ListingPage()
            for message in messages {
                let object: [String: Any] = [
                    "id": message.id.description, "recipient": message.recipient.textileString,
                    "created_at": QueryCLI.date(message.createdAt),
                ]
                let row = [message.id.description, QueryCLI.date(message.createdAt), message.recipient.textileString]
                listing.add(object: object, row: row, open: open ? { try message.open(with: me) } : nil)
            }
            try listing.print(
                headers: ["ID", "CREATED", "TO"], opened: open, limit: page.limit,
                lastID: messages.last?.id.description, json: json)
        }
    }
}
