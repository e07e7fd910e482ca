import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore

/// Where the CLI reads a private identity: a file (`--identity`), or `$MAILROOM_IDENTITY_FILE`, or the key
/// string in `$MAILROOM_IDENTITY`. Never a bare argument: command lines are visible to every user in `ps`.
struct IdentityOptions: ParsableArguments {
    @Option(
        name: [.customLong("identity"), .customLong("from")],
        help: ArgumentHelp(
            "File holding the private key string (default: $MAILROOM_IDENTITY_FILE, or the key in $MAILROOM_IDENTITY).",
            valueName: "file"
        )
    )
    var identityFile: String?

    func load() throws -> Identity {
        let environment = ProcessInfo.processInfo.environment
        if let path = identityFile ?? environment["MAILROOM_IDENTITY_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            return try Self.read(file: path)
        }
        if let text = environment["MAILROOM_IDENTITY"], !text.isEmpty {
            return try Self.parse(text, source: "$MAILROOM_IDENTITY")
        }
        throw CLIError("no identity: pass --identity FILE, or set MAILROOM_IDENTITY_FILE or MAILROOM_IDENTITY")
    }

    static func read(file path: String) throws -> Identity {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read identity file \(path)")
        }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value, mode & 0o077 != 0
        {
            CLIOutput.error(
                "mailroom: warning: identity file \(path) is readable by others (mode \(String(mode, radix: 8))); chmod 600 it"
            )
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    static func parse(_ text: String, source: String) throws -> Identity {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            return try Identity(textileString: trimmed)
        } catch {
            // The error says what is wrong with the string; the string itself is never printed.
            throw CLIError("identity in \(source) is not a private key string: \(error)")
        }
    }
}
