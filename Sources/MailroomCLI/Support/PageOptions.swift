import ArgumentParser
import MailroomQuery

/// `--seek`, `--limit`, `--ascending` for the listing commands.
struct PageOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Start after this message id (exclusive: that message is not repeated). Use the `next_seek` of the previous page.",
            valueName: "id"
        )
    )
    var seek: String?

    @Option(help: ArgumentHelp("Messages per page, 1 to 10000.", valueName: "n"))
    var limit: Int = 100

    @Flag(help: "Oldest first (default: newest first).")
    var ascending = false
}
