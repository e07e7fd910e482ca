import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore

struct OpenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Verify a portable message record and print its body, with no database or broker.",
        discussion: """
            The record (docs/ENVELOPE.md, "Portable message records") is read in its binary or JSON form, as \
            `mailroom inbox --records` prints it, from the file or standard input; JSON Lines give the first \
            record. The sender's signature is checked, then the identity's copy is decrypted and written to \
            standard output as it is; the verified sender goes to standard error (`from KEY`), or is checked \
            against --expect-sender. Exit status 3 if the record does not verify or open, or comes from another \
            sender than expected (its reason is printed), 1 for other failures.
            """
    )

    @OptionGroup var identity: IdentityOptions

    @Argument(help: ArgumentHelp("The record file (- for standard input).", valueName: "record"))
    var file: String = "-"

    @Option(
        name: .customLong("expect-sender"),
        help: ArgumentHelp("Refuse the record unless this key signed it (Textile key string or hex).", valueName: "key")
    )
    var expectSender: String?

    @Flag(help: "Print one JSON object with the record's fields and the body.") var json = false

    func run() async throws {
        try await reportingErrors {
            let me = try identity.load()
            let expected: PublicKey? = try expectSender.map { text throws(CLIError) in
                do { return try PublicKey(string: text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
                    throw CLIError("--expect-sender: \(error)")
                }
            }
            let bytes = try ByteInput.read(file)
            let record: MessageRecord
            let body: [UInt8]
            do {
                record = try Self.parse(bytes)
                body = try record.open(with: me)
            } catch let error as EnvelopeError {
                CLIOutput.error("mailroom: the record does not verify: \(error.reason): \(error.detail)")
                throw QueryCLI.verificationFailed
            }
            if let expected, expected != record.sender {
                CLIOutput.error(
                    "mailroom: the record verifies but was signed by \(record.sender.textileString), not the expected sender"
                )
                throw QueryCLI.verificationFailed
            }
            if json {
                var object: [String: Any] = [
                    "kind": record.kind.name, "id": record.id.description, "sender": record.sender.textileString,
                    "recipient": record.recipient.textileString, "created_at_ms": record.createdAtMilliseconds,
                    "read_at_ms": record.readAtMilliseconds.map { $0 as Any } ?? NSNull(), "verified": true,
                ]
                object.merge(QueryCLI.bodyFields(body)) { $1 }
                CLIOutput.json(object)
            } else {
                if expected == nil { CLIOutput.error("from \(record.sender.textileString)") }
                FileHandle.standardOutput.write(Data(body))
            }
        }
    }

    /// The binary form starts with `mrec`; anything else is read as JSON (the first line of JSON Lines).
    static func parse(_ bytes: [UInt8]) throws(EnvelopeError) -> MessageRecord {
        if bytes.starts(with: Array("mrec".utf8)) { return try MessageRecord(binary: bytes) }
        let firstLine = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).first ?? []
        return try MessageRecord(json: Array(firstLine))
    }
}
