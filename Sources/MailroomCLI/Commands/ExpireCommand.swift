import ArgumentParser
import Foundation
import MailroomStore

struct ExpireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expire",
        abstract: "Delete messages stored longer ago than the time-to-live, in bounded batches.",
        discussion: """
            Deletes inbox and sentbox rows whose stored_at is older than --ttl-days (default: \
            $MAILROOM_MESSAGE_TTL_DAYS, else 365), oldest first, --batch-size rows per transaction, so no lock is \
            held for long and the worker keeps writing meanwhile. Run it from cron or a systemd timer; running it \
            again, or twice at once, is harmless. It needs DELETE and SELECT on the message tables (the \
            mailroom_query role has them).

            Exit status: 0 when done, 1 on any failure (batches already committed stay deleted).
            """)

    @OptionGroup var database: DatabaseOptions

    @Option(name: .customLong("ttl-days"), help: "Messages stored longer ago than this many days are deleted.")
    var ttlDays: Double?

    @Option(name: .customLong("batch-size"), help: "Rows deleted per transaction at most (default 5000).")
    var batchSize: Int = 5_000

    @Option(name: .customLong("pause-ms"), help: "Milliseconds to wait between batches (default 0).")
    var pauseMilliseconds: Int = 0

    @Option(help: "Delete at most this many rows per box in this run (default: all expired).")
    var limit: Int?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        if let ttlDays, !(ttlDays > 0) { throw ValidationError("--ttl-days must be positive") }
    }

    func run() async throws {
        try await reportingErrors {
            let fromEnvironment = ProcessInfo.processInfo.environment["MAILROOM_MESSAGE_TTL_DAYS"]
            var days = ttlDays ?? 365
            if ttlDays == nil, let fromEnvironment {
                guard let value = Double(fromEnvironment), value > 0 else {
                    throw CLIError("MAILROOM_MESSAGE_TTL_DAYS must be a positive number of days")
                }
                days = value
            }
            var configuration = MessageExpiry.Configuration()
            configuration.timeToLive = .milliseconds(Int64(days * 86_400_000))
            configuration.batchSize = batchSize
            configuration.pause = .milliseconds(max(0, pauseMilliseconds))
            configuration.limit = limit
            let expiry = MessageExpiry(configuration: configuration, logger: CLILogging.logger("expire"))
            let report = try await database.withConnection { connection in try await expiry.run(on: connection) }
            if json {
                let object: [String: Any] = [
                    "inbox_deleted": report.inboxDeleted, "sentbox_deleted": report.sentboxDeleted,
                    "batches": report.batches, "cutoff": ISO8601DateFormatter().string(from: report.cutoff),
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                CLIOutput.line(String(decoding: data, as: UTF8.self))
                return
            }
            CLIOutput.line(
                "expired \(report.inboxDeleted) inbox and \(report.sentboxDeleted) sentbox messages stored before "
                    + "\(ISO8601DateFormatter().string(from: report.cutoff)) in \(report.batches) batches")
        }
    }
}
