import ArgumentParser
import Foundation
import MailroomCore

struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create an identity (an Ed25519 key pair) and save its private key string to a file.",
        discussion: """
            The file gets mode 600 and holds Textile's private key string (bbaareq…). The public key string \
            (bbaarei…), which others need to write to you, is printed. Exit status 1 if the file exists.
            """)

    @Option(name: .shortAndLong, help: ArgumentHelp("File to write the private key to.", valueName: "file"))
    var out: String

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            guard !FileManager.default.fileExists(atPath: out) else {
                throw CLIError("\(out) already exists; not overwriting an identity")
            }
            let identity = Identity.generate()
            let created = FileManager.default.createFile(
                atPath: out, contents: Data((identity.exportTextileString() + "\n").utf8),
                attributes: [.posixPermissions: 0o600])
            guard created else { throw CLIError("cannot write \(out)") }
            if json {
                CLIOutput.json(["public_key": identity.publicKey.textileString, "public_key_hex": identity.publicKey.hexString, "file": out])
            } else {
                CLIOutput.line("identity saved to \(out) (mode 600)")
                CLIOutput.line("public key: \(identity.publicKey.textileString)")
            }
        }
    }
}
