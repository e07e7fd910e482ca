import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomQuery

/// A sender's key on the command line (Textile key string or 64 hex digits).
private func parseSender(_ text: String) throws -> PublicKey {
    do {
        return try PublicKey(string: text)
    } catch {
        throw CLIError("\(text) is not a public key (a Textile key string or 64 hex digits): \(error)")
    }
}

/// What `block` and `unblock` print.
private enum BlockOutput: Sendable {
    case json([String: any Sendable])
    case text(String)
}

/// Loads the identity and the sender's key, runs `change` on a client, and prints what it returns.
private func changeBlock(
    _ key: String,
    identity: IdentityOptions,
    database: DatabaseOptions,
    _ change: @Sendable (MailroomClient, PublicKey, PublicKey) async throws -> BlockOutput
) async throws {
    try await QueryCLI.reporting {
        let me = try identity.load()
        let sender = try parseSender(key)
        switch try await QueryCLI.withClient(database, { try await change($0, me.publicKey, sender) }) {
        case .json(let object): CLIOutput.json(object)
        case .text(let line): CLIOutput.line(line)
        }
    }
}

struct BlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Block a sender: the worker refuses their new mail to the identity (blocked_sender).",
        discussion: """
            Mail already in the inbox stays. Refused envelopes are kept in rejected_envelopes and on the \
            dead-letter topic, like every rejection. \(QueryCLI.exitStatusHelp)
            """
    )

    @Argument(help: ArgumentHelp("The sender's public key.", valueName: "key")) var key: String
    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await changeBlock(key, identity: identity, database: database) { client, owner, sender in
            let added = try await client.block(owner: owner, sender: sender)
            let key = sender.textileString
            return json
                ? .json(["blocked": key, "new": added]) : .text(added ? "blocked \(key)" : "\(key) was blocked already")
        }
    }
}

struct UnblockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unblock",
        abstract: "Unblock a sender.",
        discussion: QueryCLI.exitStatusHelp
    )

    @Argument(help: ArgumentHelp("The sender's public key.", valueName: "key")) var key: String
    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        try await changeBlock(key, identity: identity, database: database) { client, owner, sender in
            let removed = try await client.unblock(owner: owner, sender: sender)
            let key = sender.textileString
            return json
                ? .json(["unblocked": key, "was_blocked": removed])
                : .text(removed ? "unblocked \(key)" : "\(key) was not blocked")
        }
    }
}

struct BlocksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blocks",
        abstract: "List the senders the identity has blocked.",
        discussion: QueryCLI.exitStatusHelp
    )

    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print one JSON object per line.") var json = false

    func run() async throws {
        try await QueryCLI.reporting {
            let me = try identity.load()
            let blocks = try await QueryCLI.withClient(database) { try await $0.blocks(owner: me.publicKey) }
            for block in blocks {
                if json {
                    CLIOutput.json(["key": block.sender.textileString, "since": QueryCLI.date(block.since)])
                } else {
                    CLIOutput.line("\(block.sender.textileString)  since \(QueryCLI.date(block.since))")
                }
            }
        }
    }
}
