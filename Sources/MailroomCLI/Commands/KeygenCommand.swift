import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore

struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create an identity (an Ed25519 key pair) and save its private key string to a file.",
        discussion: """
            The file gets mode 600 and holds Textile's private key string (bbaareq…). The public key string \
            (bbaarei…), which others need to write to you, is printed. Exit status 1 if the file exists.
            """
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("File to write the private key to.", valueName: "file"))
    var out: String

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let identity = Identity.generate()
            try Self.createPrivately(out, contents: Array((identity.exportTextileString() + "\n").utf8))
            if json {
                CLIOutput.json([
                    "public_key": identity.publicKey.textileString, "public_key_hex": identity.publicKey.hexString,
                    "file": out,
                ])
            } else {
                CLIOutput.line("identity saved to \(out) (mode 600)")
                CLIOutput.line("public key: \(identity.publicKey.textileString)")
            }
        }
    }

    /// Creates `path` with mode 0600 in one step (`O_CREAT | O_EXCL | O_NOFOLLOW`: never an existing file, never
    /// through a symbolic link, never readable by others even for a moment), writes `contents` and syncs them.
    /// A file that cannot be completed is removed.
    static func createPrivately(_ path: String, contents: [UInt8]) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { throw CLIError("\(path) already exists; not overwriting an identity") }
            throw CLIError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        var written = 0
        var failure: Int32 = 0
        while written < contents.count {
            let n = contents[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                failure = errno
                break
            }
            written += n
        }
        if failure == 0, fsync(descriptor) != 0 { failure = errno }
        if close(descriptor) != 0, failure == 0 { failure = errno }
        if failure != 0 {
            unlink(path)
            throw CLIError("cannot write \(path): \(String(cString: strerror(failure)))")
        }
    }
}
