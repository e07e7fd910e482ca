import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomQuery

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print the identity's inbox (or sentbox) events as they happen: created, read, deleted.",
        discussion: """
            One line per event with the message ids (with --json, one JSON object per line). `watching …` goes \
            to standard error once the watch is live. Runs until interrupted (SIGINT or SIGTERM, exit status 0). \
            If the database connection drops, it reconnects and reports what happened meanwhile. \
            \(QueryCLI.exitStatusHelp)
            """
    )

    @Flag(help: "Watch the sentbox instead of the inbox.") var sentbox = false
    @OptionGroup var identity: IdentityOptions
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print each event as one JSON object per line.") var json = false

    func run() async throws {
        try await QueryCLI.reporting {
            let me = try identity.load()
            try await QueryCLI.withClient(database) { client in
                let watch =
                    sentbox
                    ? try await client.watchSentbox(owner: me.publicKey)
                    : try await client.watchInbox(owner: me.publicKey)
                CLIOutput.error("watching the \(sentbox ? "sentbox" : "inbox") of \(me.publicKey.textileString)")
                let consumer = Task {
                    for try await event in watch {
                        if json {
                            CLIOutput.json([
                                "box": event.box.rawValue, "event": event.kind.rawValue,
                                "ids": event.messageIDs.map(\.description),
                            ])
                        } else {
                            CLIOutput.line(
                                "\(QueryCLI.date(Date()))  \(event.kind.rawValue)  \(event.messageIDs.map(\.description).joined(separator: " "))"
                            )
                        }
                        QueryCLI.flush()
                    }
                }
                let signals = SignalWatch.start { consumer.cancel() }
                defer { signals.stop() }
                try await consumer.value
            }
        }
    }
}

/// Cancels a task on SIGINT or SIGTERM (the dispatch sources run off the cooperative pool).
struct SignalWatch {
    let sources: [DispatchSourceSignal]

    static func start(_ handler: @escaping @Sendable () -> Void) -> SignalWatch {
        let sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
        return SignalWatch(sources: sources)
    }

    func stop() { for source in sources { source.cancel() } }
}
