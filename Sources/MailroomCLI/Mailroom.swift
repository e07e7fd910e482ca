import ArgumentParser

@main
struct Mailroom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailroom",
        abstract: "Encrypted user mailboxes over Kafka and PostgreSQL.",
        subcommands: [
            KeygenCommand.self, SetupCommand.self, InboxCommand.self, SentboxCommand.self, ReadCommand.self,
            DeleteCommand.self, BlockCommand.self, UnblockCommand.self, BlocksCommand.self, WatchCommand.self,
            UnreadCommand.self, SendCommand.self, SealCommand.self, SubmitCommand.self, OpenCommand.self,
            InviteCommand.self, WorkerCommand.self, ServeCommand.self,
            TopicsCommand.self, DeadLetterCommand.self, MigrateCommand.self, ExpireCommand.self,
        ]
    )
}
