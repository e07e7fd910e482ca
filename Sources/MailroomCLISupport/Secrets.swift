import Foundation

/// Settings that may hold secrets, read from the environment or a file, never only from the command line (an
/// argument shows in `ps`). Error text names the file and line, never a value.
public enum Secrets {
    /// The variable that allows the development passwords of docker-compose.yml (`…-dev-only`).
    public static let developmentFlag = "MAILROOM_DEVELOPMENT"

    /// Reads a secret file: its contents, trimmed. Refuses a file every user may read.
    public static func read(_ path: String, for what: String) throws -> String {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw CLIError("\(what): cannot read \(path)")
        }
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o004 != 0 {
            throw CLIError("\(what): \(path) is readable by every user; chmod o-r it (it holds secrets)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("\(what): cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `key=value` lines (blank lines and `#` comments skipped), e.g. librdkafka's SASL and TLS settings.
    public static func properties(file path: String, for what: String) throws -> [(key: String, value: String)] {
        var properties: [(String, String)] = []
        for (index, raw) in try read(path, for: what).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                throw CLIError("\(what): \(path):\(index + 1) is not key=value")
            }
            properties.append(
                (
                    String(line[..<equals]).trimmingCharacters(in: .whitespaces),
                    String(line[line.index(after: equals)...])
                )
            )
        }
        return properties
    }

    /// Refuses a database URL with one of docker-compose.yml's development passwords (`…-dev-only`) unless
    /// ``developmentFlag`` is 1: a deployment that kept them is refused at start, not found out later.
    public static func refuseDevelopmentPassword(in url: String) throws {
        guard ProcessInfo.processInfo.environment[developmentFlag] != "1" else { return }
        let password = URLComponents(string: url)?.password ?? ""
        guard password.hasSuffix("-dev-only") else { return }
        throw CLIError(
            "the database URL uses a development password (…-dev-only): set a real one, or \(developmentFlag)=1 for a development stack"
        )
    }
}
