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
            let opened: Opened
            do {
                opened = try Self.open(try PortableRecord(parsing: bytes), with: me)
            } catch let error as EnvelopeError {
                CLIOutput.error("mailroom: the record does not verify: \(error.reason): \(error.detail)")
                throw QueryCLI.verificationFailed
            }
            if let expected, expected != opened.sender {
                CLIOutput.error(
                    "mailroom: the record verifies but was signed by \(opened.sender.textileString), not the expected sender"
                )
                throw QueryCLI.verificationFailed
            }
            if json {
                var object: [String: Any] = [
                    "kind": opened.kind.name, "id": opened.id.description, "sender": opened.sender.textileString,
                    "created_at_ms": opened.createdAtMilliseconds,
                    "read_at_ms": opened.readAtMilliseconds.map { $0 as Any } ?? NSNull(), "verified": true,
                ]
                // A batch's sentbox entry has many recipients (its sender copy lists them), not one.
                if let recipient = opened.recipient {
                    object["recipient"] = recipient.textileString
                } else {
                    object["recipients"] = opened.recipientCount
                }
                object.merge(QueryCLI.bodyFields(opened.body)) { $1 }
                CLIOutput.json(object)
            } else {
                if expected == nil { CLIOutput.error("from \(opened.sender.textileString)") }
                FileHandle.standardOutput.write(Data(opened.body))
            }
        }
    }

    /// A verified, opened record of either format.
    struct Opened {
        var kind: MessageRecord.Kind
        var id: MessageID
        var sender: PublicKey
        var recipient: PublicKey?
        var recipientCount: Int
        var createdAtMilliseconds: Int64
        var readAtMilliseconds: Int64?
        var body: [UInt8]
    }

    /// Verifies the record (a single message's, or a batch entry's alone) and decrypts the identity's copy.
    static func open(_ record: PortableRecord, with identity: Identity) throws(EnvelopeError) -> Opened {
        switch record {
        case .single(let single):
            let body = try single.open(with: identity)
            return Opened(
                kind: single.kind,
                id: single.id,
                sender: single.sender,
                recipient: single.recipient,
                recipientCount: 1,
                createdAtMilliseconds: single.createdAtMilliseconds,
                readAtMilliseconds: single.readAtMilliseconds,
                body: body
            )
        case .batch(let batch, let id):
            let body = try batch.open(with: identity)
            switch try batch.verify() {
            case .inbox(let envelope):
                return Opened(
                    kind: .inbox,
                    id: id,
                    sender: envelope.header.sender,
                    recipient: envelope.recipient,
                    recipientCount: 1,
                    createdAtMilliseconds: envelope.createdAtMilliseconds,
                    readAtMilliseconds: batch.readAtMilliseconds,
                    body: body
                )
            case .sentbox(let copy):
                return Opened(
                    kind: .sentbox,
                    id: id,
                    sender: copy.header.sender,
                    recipient: nil,
                    recipientCount: copy.header.recipientCount,
                    createdAtMilliseconds: copy.header.createdAtMilliseconds,
                    readAtMilliseconds: nil,
                    body: body
                )
            }
        }
    }
}
