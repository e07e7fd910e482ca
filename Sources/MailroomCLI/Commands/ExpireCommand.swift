import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomStore

struct ExpireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expire",
        abstract: "Delete messages stored longer ago than the time-to-live, and old tombstones, in bounded batches.",
        discussion: """
            Deletes inbox and sentbox copies whose stored_at is older than --ttl-days (default: \
            $MAILROOM_MESSAGE_TTL_DAYS, else 365), oldest first, --batch-size rows per transaction, so no lock is \
            held for long and the worker keeps writing meanwhile. A message created within the redelivery window \
            (--redelivery-window-days, default: $MAILROOM_REDELIVERY_WINDOW_DAYS, else 8) keeps a tombstone, so \
            that a redelivered envelope is not stored again; tombstones older than the window are removed. Keep \
            the window at least the worker's --max-envelope-age-days plus its clock skew. Run it from cron or a \
            systemd timer; running it again, or twice at once, is harmless. It runs as the mailroom_query role.

            Exit status: 0 when done, 1 on any failure (batches already committed stay deleted).
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(name: .customLong("ttl-days"), help: "Messages stored longer ago than this many days are deleted.")
    var ttlDays: Double?

    @Option(
        name: .customLong("redelivery-window-days"),
        help: "Days after creation a message keeps a tombstone once deleted or expired (default 8)."
    )
    var redeliveryWindowDays: Double?

    @Option(name: .customLong("batch-size"), help: "Rows changed per transaction at most (default 5000).")
    var batchSize: Int = 5_000

    @Option(name: .customLong("pause-ms"), help: "Milliseconds to wait between batches (default 0).")
    var pauseMilliseconds: Int = 0

    @Option(help: "Expire at most this many rows, and prune as many tombstones, in this run (default: all).")
    var limit: Int?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        if let ttlDays, !(ttlDays > 0) { throw ValidationError("--ttl-days must be positive") }
        if let redeliveryWindowDays, !(redeliveryWindowDays > 0) {
            throw ValidationError("--redelivery-window-days must be positive")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let days = try ttlDays ?? Self.days("MAILROOM_MESSAGE_TTL_DAYS") ?? 365
            var configuration = MessageExpiry.Configuration()
            configuration.timeToLive = .milliseconds(Int64(days * 86_400_000))
            if let window = try redeliveryWindowDays ?? Self.days("MAILROOM_REDELIVERY_WINDOW_DAYS") {
                configuration.redeliveryWindow = .milliseconds(Int64(window * 86_400_000))
            }
            configuration.batchSize = batchSize
            configuration.pause = .milliseconds(max(0, pauseMilliseconds))
            configuration.limit = limit
            let expiry = MessageExpiry(configuration: configuration, logger: CLILogging.logger("expire"))
            let report = try await database.withConnection { connection in try await expiry.run(on: connection) }
            if json {
                let object: [String: Any] = [
                    "inbox_deleted": report.inboxDeleted, "sentbox_deleted": report.sentboxDeleted,
                    "tombstoned": report.tombstoned, "tombstones_pruned": report.tombstonesPruned,
                    "batch_entries_expired": report.batchEntriesExpired,
                    "batch_envelopes_removed": report.batchesRemoved, "batches": report.batches,
                    "cutoff": ISO8601DateFormatter().string(from: report.cutoff),
                    "tombstone_cutoff": ISO8601DateFormatter().string(from: report.tombstoneCutoff),
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                CLIOutput.line(String(decoding: data, as: UTF8.self))
                return
            }
            CLIOutput.line(
                "expired \(report.inboxDeleted) inbox and \(report.sentboxDeleted) sentbox messages stored before "
                    + "\(ISO8601DateFormatter().string(from: report.cutoff)) (\(report.tombstoned) kept as tombstones); "
                    + "removed \(report.tombstonesPruned) tombstones of messages created before "
                    + "\(ISO8601DateFormatter().string(from: report.tombstoneCutoff)); expired "
                    + "\(report.batchEntriesExpired) sentbox entries of batch envelopes, removed "
                    + "\(report.batchesRemoved) batch envelopes; \(report.batches) transactions"
            )
        }
    }

    /// A positive number of days from the environment, or nil when the variable is not set.
    private static func days(_ variable: String) throws -> Double? {
        guard let text = ProcessInfo.processInfo.environment[variable] else { return nil }
        guard let value = Double(text), value > 0 else {
            throw CLIError("\(variable) must be a positive number of days")
        }
        return value
    }
}
