import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomProducer
import Synchronization

struct InviteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Send a message to many recipients at once (onboarding invites).",
        discussion: """
            The recipients file has one public key per line, or is a CSV whose header names a `key` column and \
            optionally a `body` column (a personalised body per recipient). Without a body column every recipient \
            gets --body (or --body-file). With a body column, --body (or --body-file) is what your own sentbox \
            keeps of each batch (the template, say; default the batch's first body).

            Recipients are sent as batch envelopes (format v2): at most --batch-recipients per batch, one \
            signature per batch, every recipient's record keyed by the recipient plus one sender copy (your \
            sentbox entry) per batch. A batch whose bodies are all equal carries the body once (shared); otherwise \
            each recipient's body is sealed to them (personalised). A single recipient gets a single envelope (v1). \
            Batches are sealed on all cores while records are produced.

            On a terminal a progress bar shows rate and ETA; otherwise plain progress lines. Exit status 1 if any \
            recipient failed or a batch's sender copy was not sent (each failure is listed on standard error; a \
            recipient whose record was acknowledged has the message even when the sender copy failed).
            """
    )

    @OptionGroup var identity: IdentityOptions
    @OptionGroup var kafka: KafkaOptions

    @Option(help: ArgumentHelp("File of recipients (keys, or CSV with key[,body]).", valueName: "file"))
    var recipients: String
    @Option(help: ArgumentHelp("The shared message text.", valueName: "text")) var body: String?
    @Option(name: .customLong("body-file"), help: ArgumentHelp("File holding the shared message.", valueName: "file"))
    var bodyFile: String?
    @Option(
        name: .customLong("batch-recipients"),
        help: ArgumentHelp(
            "Recipients per batch envelope, 1 to \(BatchLimits.formatMaxRecipients).",
            valueName: "n"
        )
    )
    var batchRecipients: Int = 1_000
    @Flag(help: "Print the summary as one JSON object.") var json = false

    func validate() throws {
        guard (1...BatchLimits.formatMaxRecipients).contains(batchRecipients) else {
            throw ValidationError("--batch-recipients must be 1 to \(BatchLimits.formatMaxRecipients)")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let sender = try identity.load()
            guard let data = FileManager.default.contents(atPath: recipients) else {
                throw CLIError("cannot read recipients file \(recipients)")
            }
            var shared: [UInt8]?
            if let body { shared = Array(body.utf8) }
            if let bodyFile {
                guard let file = FileManager.default.contents(atPath: bodyFile) else {
                    throw CLIError("cannot read \(bodyFile)")
                }
                shared = Array(file)
            }
            let text = String(decoding: data, as: UTF8.self)
            let messages = try RecipientsFile.parse(text, sharedBody: shared)
            let hasBodyColumn = RecipientsFile.hasBodyColumn(text)
            guard !messages.isEmpty else { throw CLIError("\(recipients) lists no recipients") }

            let producer = try MailroomProducer(
                .init(
                    kafka: try kafka.configuration(),
                    topics: kafka.topics,
                    sendTimeout: .seconds(30),
                    batchRecipients: batchRecipients
                ),
                logger: CLILogging.logger("producer")
            )
            let progress = ProgressReporter(total: messages.count, label: "invites")
            let started = ContinuousClock.now
            let report = await producer.sendBulkReport(
                from: sender,
                messages: messages,
                senderBody: hasBodyColumn ? shared : nil
            ) { progress.update($0) }
            await producer.close()
            progress.finish()
            let elapsed = ContinuousClock.now - started
            var failed = 0
            for (message, result) in zip(messages, report.results) {
                if case .failed(let error) = result {
                    failed += 1
                    CLIOutput.error("failed: \(message.recipient.prefix(80)): \(error)")
                }
            }
            let senderCopiesFailed = report.senderCopyFailures
            for batch in senderCopiesFailed {
                if case .failed(let error, _) = batch.senderCopy {
                    CLIOutput.error(
                        "sender copy of batch \(batch.batchID) (\(batch.messageIndices.count) recipients) not sent: "
                            + "\(error)"
                    )
                }
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let sent = messages.count - failed
            if json {
                CLIOutput.json([
                    "sent": sent, "failed": failed, "batches": report.batches.count,
                    "sender_copies_failed": senderCopiesFailed.count, "seconds": seconds,
                    "per_second": seconds > 0 ? Double(sent) / seconds : 0,
                ])
            } else {
                let rate = Int(seconds > 0 ? Double(sent) / seconds : 0)
                CLIOutput.line(
                    "sent \(sent), failed \(failed), in \(report.batches.count) batches, "
                        + "in \(String(format: "%.1f", seconds)) s (\(rate)/s)"
                        + (senderCopiesFailed.isEmpty ? "" : ", \(senderCopiesFailed.count) sender copies not sent")
                )
            }
            if failed > 0 || !senderCopiesFailed.isEmpty { throw ExitCode.failure }
        }
    }
}

/// Reads `mailroom invite`'s recipients file.
enum RecipientsFile {
    /// Whether the file is a CSV with a `body` column (personalised bodies).
    static func hasBodyColumn(_ text: String) -> Bool {
        guard let first = text.split(whereSeparator: \.isNewline).first(where: { !$0.allSatisfy(\.isWhitespace) })
        else { return false }
        let header = CSV.fields(String(first)).map { $0.lowercased().trimmingCharacters(in: .whitespaces) }
        return header.contains("key") && header.contains("body")
    }

    static func parse(_ text: String, sharedBody: [UInt8]?) throws -> [BulkMessage] {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter {
            !$0.trimmingCharacters(in: .whitespaces).isEmpty
        }
        guard let first = lines.first else { return [] }
        let header = CSV.fields(first).map { $0.lowercased().trimmingCharacters(in: .whitespaces) }
        if header.contains("key") {
            guard let keyColumn = header.firstIndex(of: "key") else { return [] }
            let bodyColumn = header.firstIndex(of: "body")
            if bodyColumn == nil && sharedBody == nil {
                throw CLIError("no body: the CSV has no body column; pass --body or --body-file")
            }
            return try lines.dropFirst().enumerated().map { index, line in
                let fields = CSV.fields(line)
                guard keyColumn < fields.count else { throw CLIError("line \(index + 2): no key column") }
                let body = bodyColumn.flatMap { $0 < fields.count ? Array(fields[$0].utf8) : nil } ?? sharedBody ?? []
                return BulkMessage(recipient: fields[keyColumn], body: body)
            }
        }
        guard let sharedBody else {
            throw CLIError("no body: pass --body or --body-file (or use a CSV with a body column)")
        }
        return lines.map { BulkMessage(recipient: $0.trimmingCharacters(in: .whitespaces), body: sharedBody) }
    }
}

/// A minimal RFC 4180 field splitter (quoted fields, doubled quotes).
enum CSV {
    static func fields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = Array(line).makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" {
                            current.append("\"")
                        } else {
                            quoted = false
                            pending = next
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}

/// Progress for long sends: a redrawn bar on a terminal, a line every few seconds otherwise.
final class ProgressReporter: Sendable {
    private struct State {
        var last = ContinuousClock.now
        var finished = 0
        var failed = 0
    }

    private let total: Int
    private let label: String
    private let started = ContinuousClock.now
    private let state = Mutex(State())
    private let terminal = isatty(STDERR_FILENO) == 1

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    func update(_ progress: BulkProgress) {
        let line: String? = state.withLock { state in
            state.finished = progress.finished
            state.failed = progress.failed
            let interval: Duration = terminal ? .milliseconds(100) : .seconds(2)
            guard ContinuousClock.now - state.last >= interval || progress.finished == total else { return nil }
            state.last = .now
            return render(finished: progress.finished, failed: progress.failed)
        }
        if let line { emit(line) }
    }

    func finish() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func render(finished: Int, failed: Int) -> String {
        let elapsed = ContinuousClock.now - started
        let seconds = max(0.001, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        let rate = Double(finished) / seconds
        let eta = rate > 0 ? Double(total - finished) / rate : 0
        let percent = total > 0 ? Double(finished) / Double(total) : 1
        let counts = "\(finished)/\(total) \(label), \(failed) failed, \(Int(rate))/s, ETA \(Int(eta.rounded())) s"
        guard terminal else { return counts }
        let width = 30
        let filled = Int(percent * Double(width))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            + "\(Int(percent * 100))% " + counts
    }

    private func emit(_ line: String) {
        FileHandle.standardError.write(Data((terminal ? "\r\u{1B}[2K" + line : line + "\n").utf8))
    }
}
