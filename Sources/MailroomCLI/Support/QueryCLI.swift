import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomQuery

/// What the reading commands share: a query client for the database options, message formatting and the exit
/// statuses they document.
enum QueryCLI {
    /// Exit statuses of the reading commands (besides 0, 1 for other failures and 64 for usage errors).
    static let notFound = ExitCode(2)
    static let verificationFailed = ExitCode(3)

    static let exitStatusHelp = """
        Exit status: 0 success; 1 failure (database unreachable, bad identity, …); 2 mailbox or message not \
        found; 3 a message failed verification (tampered row) with --open; 64 usage error.
        """

    /// Runs `body` with a one-connection client, then shuts it down.
    static func withClient<T: Sendable>(
        _ database: DatabaseOptions,
        _ body: (MailroomClient) async throws -> T
    )
        async throws -> T
    {
        let client = MailroomClient(
            .init(databaseURL: try database.resolvedURL(), poolSize: 1),
            logger: CLILogging.logger("query")
        )
        do {
            let value = try await body(client)
            await client.shutdown()
            return value
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Like ``reportingErrors(_:)``, with status 2 for a missing mailbox or message.
    static func reporting(_ body: () async throws -> Void) async throws {
        try await reportingErrors {
            do {
                try await body()
            } catch let error as MailroomQueryError
                where error.code == .mailboxNotFound || error.code == .messageNotFound
            {
                CLIOutput.error("mailroom: \(error.message)")
                throw notFound
            }
        }
    }

    static func parseID(_ text: String) throws -> MessageID {
        do {
            return try MessageID(string: text)
        } catch {
            throw CLIError("\(text) is not a message id (26 characters of Crockford base32)")
        }
    }

    /// A mailbox owner given as a public key (Textile key string or 64 hex digits).
    static func parseOwner(_ text: String) throws -> PublicKey {
        do {
            return try PublicKey(string: text)
        } catch {
            throw CLIError("--owner: \(error)")
        }
    }

    static func date(_ date: Date?) -> String {
        guard let date else { return "" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// The stable reason code of a verification failure.
    static func reason(_ error: any Error) -> String {
        (error as? EnvelopeError)?.reason ?? "\(error)"
    }

    /// The body as text when it is UTF-8, otherwise base64 (JSON key `body` or `body_base64`).
    static func bodyFields(_ body: [UInt8]) -> [String: Any] {
        if let text = String(validating: body, as: UTF8.self) { return ["body": text] }
        return ["body_base64": Data(body).base64EncodedString()]
    }

    static func bodyText(_ body: [UInt8]) -> String {
        if let text = String(validating: body, as: UTF8.self) {
            return text.replacingOccurrences(of: "\n", with: "\\n")
        }
        return "base64:" + Data(body).base64EncodedString()
    }

    /// Prints rows as aligned columns.
    static func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        func format(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        CLIOutput.line(format(header))
        for row in rows { CLIOutput.line(format(row)) }
    }

    /// Writes standard output now (a watch prints line by line into pipes).
    static func flush() { fflush(nil) }
}

/// One page of `mailroom inbox` or `mailroom sentbox`, collected row by row, then printed one way.
struct ListingPage {
    var objects: [[String: Any]] = []
    var rows: [[String]] = []
    var tampered = 0

    /// Adds one message: its JSON object and table row, plus, when `open` is given, its verified body (or
    /// why it failed verification).
    mutating func add(object: [String: Any], row: [String], open: (() throws -> [UInt8])?) {
        var object = object
        var row = row
        if let open {
            do {
                let body = try open()
                object["verified"] = true
                object.merge(QueryCLI.bodyFields(body)) { $1 }
                row.append(QueryCLI.bodyText(body))
            } catch {
                tampered += 1
                object["verified"] = false
                object["error"] = QueryCLI.reason(error)
                row.append("TAMPERED (\(QueryCLI.reason(error)))")
            }
        }
        objects.append(object)
        rows.append(row)
    }

    /// Prints the page as JSON or a table with the next-page hint.
    /// - Throws: ``QueryCLI/verificationFailed`` (exit status 3) when a message failed verification.
    func print(headers: [String], opened: Bool, limit: Int, lastID: String?, json: Bool) throws {
        let next: Any = rows.count == limit ? (lastID.map { $0 as Any } ?? NSNull()) : NSNull()
        if json {
            CLIOutput.json(["messages": objects, "count": rows.count, "next_seek": next])
        } else if rows.isEmpty {
            CLIOutput.line("no messages")
        } else {
            QueryCLI.table(headers + (opened ? ["BODY"] : []), rows)
            if let next = next as? String { CLIOutput.line("next page: --seek \(next)") }
        }
        if tampered > 0 {
            CLIOutput.error("mailroom: \(tampered) message(s) failed verification")
            throw QueryCLI.verificationFailed
        }
    }
}
