import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomQuery

struct SentboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentbox",
        abstract: "List the messages the identity sent, a page at a time (newest first).",
        discussion: """
            Paging works as for `mailroom inbox`. With --open each message is verified and the identity's own \
            copy decrypted. \(QueryCLI.exitStatusHelp)
            """
    )

    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var page: PageOptions
    @Flag(help: "Verify and decrypt each message with the identity, and show its body.")
    var open = false
    @Flag(help: "Print the result as one JSON object.") var json = false
    @Flag(
        help: ArgumentHelp(
            "Print each message as a portable record (JSON form, one per line) that its owner's device verifies and opens alone."
        )
    )
    var records = false
    @Option(
        help: ArgumentHelp(
            "List this public key's mailbox (Textile key string or hex) without loading a private key; not with --open.",
            valueName: "key"
        )
    )
    var owner: String?

    func run() async throws {
        try await QueryCLI.reporting {
            let ownerKey = try owner.map(QueryCLI.parseOwner)
            if ownerKey != nil && open { throw CLIError("--open needs the private key: use --identity, not --owner") }
            if records && open { throw CLIError("--records prints records for a device to open: not with --open") }
            let me = ownerKey == nil ? try identity.load() : nil
            let seek = try page.seek.map(QueryCLI.parseID)
            let messages = try await QueryCLI.withClient(database) { client in
                try await client.listSentbox(
                    owner: ownerKey ?? me!.publicKey,
                    seek: seek,
                    limit: page.limit,
                    ascending: page.ascending
                )
            }
            if records {
                for message in messages { CLIOutput.line(message.record.json()) }
                return
            }
            var listing = ListingPage()
            for message in messages {
                // A batch's entry (envelope format v2) is one entry for all its recipients.
                let to = message.recipient?.textileString ?? "\(message.recipientCount) recipients"
                var object: [String: Any] = [
                    "id": message.id.description, "created_at": QueryCLI.date(message.createdAt),
                ]
                if let recipient = message.recipient {
                    object["recipient"] = recipient.textileString
                } else {
                    object["recipients"] = message.recipientCount
                }
                let row = [message.id.description, QueryCLI.date(message.createdAt), to]
                listing.add(object: object, row: row, open: open ? { try message.open(with: me!) } : nil)
            }
            try listing.print(
                headers: ["ID", "CREATED", "TO"],
                opened: open,
                limit: page.limit,
                lastID: messages.last?.id.description,
                json: json
            )
        }
    }
}
