import ArgumentParser

@main
struct Mailroom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailroom",
        abstract: "Encrypted user mailboxes over Kafka and PostgreSQL.",
        subcommands: [MigrateCommand.self, BenchCommand.self]
    )
}
