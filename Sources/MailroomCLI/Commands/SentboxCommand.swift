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
            var tampered = 0
            var objects: [[String: Any]] = []
            var rows: [[String]] = []
            for message in messages {
                var object: [String: Any] = [
                    "id": message.id.description, "recipient": message.recipient.textileString,
                    "created_at": QueryCLI.date(message.createdAt),
                ]
                var row = [message.id.description, QueryCLI.date(message.createdAt), message.recipient.textileString]
                if open {
                    do {
                        let body = try message.open(with: me)
                        object["verified"] = true
                        object.merge(QueryCLI.bodyFields(body)) { $1 }
                        row.append(QueryCLI.bodyText(body))
                    } catch {
                        tampered += 1
                        object["verified"] = false
                        object["error"] = QueryCLI.reason(error)
                        row.append("TAMPERED (\(QueryCLI.reason(error)))")
                    }
                }
                objects.append(object)
                rows.append(row)
            }
            let next: Any = messages.count == page.limit ? (messages.last?.id.description ?? NSNull()) : NSNull()
            if json {
                CLIOutput.json(["messages": objects, "count": messages.count, "next_seek": next])
            } else if messages.isEmpty {
                CLIOutput.line("no messages")
            } else {
                QueryCLI.table(["ID", "CREATED", "TO"] + (open ? ["BODY"] : []), rows)
                if let next = next as? String { CLIOutput.line("next page: --seek \(next)") }
            }
            if tampered > 0 {
                CLIOutput.error("mailroom: \(tampered) message(s) failed verification")
                throw QueryCLI.verificationFailed
            }
        }
    }
}
