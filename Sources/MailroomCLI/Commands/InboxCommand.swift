import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomQuery
import MailroomStore

/// `--status`: which inbox messages to list.
enum StatusArgument: String, ExpressibleByArgument, CaseIterable {
    case all, read, unread

    var status: InboxStatus {
        switch self {
        case .all: .all
        case .read: .read
        case .unread: .unread
        }
    }
}

struct InboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inbox",
        abstract: "List the identity's inbox, a page at a time (newest first).",
        discussion: """
            Pages are keyed on the message id: pass the last id shown (printed as `next page: --seek ID`, or \
            `next_seek` in JSON) to --seek for the next page. With --open each message is verified against its \
            sender's signature and decrypted with the identity; a message that fails verification is shown as \
            TAMPERED. \(QueryCLI.exitStatusHelp)
            """
    )

    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var page: PageOptions
    @Option(help: ArgumentHelp("Which messages: all, read or unread.", valueName: "status"))
    var status: StatusArgument = .all
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
                try await client.listInbox(
                    owner: ownerKey ?? me!.publicKey,
                    seek: seek,
                    limit: page.limit,
                    ascending: page.ascending,
                    status: status.status
                )
            }
            if records {
                for message in messages { CLIOutput.line(message.record.json()) }
                return
            }
            var listing = ListingPage()
            for message in messages {
                var object: [String: Any] = [
                    "id": message.id.description, "sender": message.sender.textileString,
                    "created_at": QueryCLI.date(message.createdAt), "read": message.isRead,
                ]
                if let readAt = message.readAt { object["read_at"] = QueryCLI.date(readAt) }
                let row = [
                    message.id.description, QueryCLI.date(message.createdAt), message.isRead ? "yes" : "no",
                    message.sender.textileString,
                ]
                listing.add(object: object, row: row, open: open ? { try message.open(with: me!) } : nil)
            }
            try listing.print(
                headers: ["ID", "CREATED", "READ", "FROM"],
                opened: open,
                limit: page.limit,
                lastID: messages.last?.id.description,
                json: json
            )
        }
    }
}
