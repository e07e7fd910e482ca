/// An error from the PostgreSQL layer.
///
/// The description carries the server's SQLSTATE and primary message, never bound parameter values, message
/// bodies or passwords: `DETAIL` lines (which can quote row values) are deliberately not kept.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable {
            case invalidURL = "invalid_url"
            case connectionFailed = "connection_failed"
            case connectionClosed = "connection_closed"
            case server = "server"
            case decoding = "decoding"
            case unexpectedResult = "unexpected_result"
            case cancelled = "cancelled"
        }

        fileprivate let base: Base

        /// The connection string could not be parsed.
        public static let invalidURL = Code(base: .invalidURL)
        /// The server could not be reached or refused the connection.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connection was lost or closed while in use.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// The server reported an error; ``PostgresError/sqlState`` says which.
        public static let server = Code(base: .server)
        /// A column could not be decoded as the requested Swift type.
        public static let decoding = Code(base: .decoding)
        /// The server answered with something the caller did not expect (e.g. no rows where one was required).
        public static let unexpectedResult = Code(base: .unexpectedResult)
        /// The calling task was cancelled before its statement was sent: the statement never ran. (A statement
        /// cancelled while it runs fails with ``server`` and SQLSTATE 57014 instead.)
        public static let cancelled = Code(base: .cancelled)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// The five-character SQLSTATE, for ``Code/server`` errors (e.g. `23505` for a unique violation).
    public var sqlState: String?
    /// A human-readable message, free of secrets and row values.
    public var message: String
    /// Where the error was raised.
    public var file: String
    public var line: Int

    public init(
        _ code: Code,
        sqlState: String? = nil,
        message: String,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.file = file
        self.line = line
    }

    /// True when the connection itself is gone and the operation may succeed on a new connection.
    public var isConnectionLoss: Bool {
        if code == .connectionFailed || code == .connectionClosed { return true }
        // Class 08 — connection exception; 57P01..57P03 — admin shutdown, crash shutdown, cannot connect now.
        guard let state = sqlState else { return false }
        return state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03"
    }

    public var description: String {
        if let sqlState {
            return "PostgresError.\(code) [\(sqlState)]: \(message)"
        }
        return "PostgresError.\(code): \(message)"
    }
}

extension PostgresError {
    /// SQLSTATE 23505: a unique or primary-key constraint was violated.
    public static let uniqueViolation = "23505"
    /// SQLSTATE 40001: a serializable transaction could not be committed; retry it.
    public static let serializationFailure = "40001"
}

extension PostgresError {
    /// What a writer should do about this error: wait it out, or set aside the one input that causes it.
    public enum Persistence: Sendable, Equatable {
        /// The connection is gone: reconnect and try again.
        case connectionLost
        /// A condition of the server, not of the input (read-only after a failover, disk full, out of memory,
        /// a lock or statement timeout, a serialization failure or deadlock, and anything unclassified):
        /// wait, reconnect and try the same input again for as long as it lasts. `condition` names it for
        /// logs and metrics (`read_only`, `disk_full`, …).
        case transient(condition: String)
        /// A property of the input (SQLSTATE class 22 data exception, 23 integrity constraint violation, 54
        /// program limit exceeded): trying the same input again fails the same way.
        case inputSpecific
    }

    /// How this error persists (``Persistence``). When in doubt it is ``Persistence/transient(condition:)``:
    /// only the classes that describe the input itself may make a writer give up on that input.
    public var persistence: Persistence {
        if isConnectionLoss { return .connectionLost }
        guard code == .server, let state = sqlState, state.count == 5 else {
            return .transient(
                condition: code == .decoding || code == .unexpectedResult ? "unexpected_result" : "unclassified"
            )
        }
        switch state {
        case "25006": return .transient(condition: "read_only")
        case "53100": return .transient(condition: "disk_full")
        case "53200": return .transient(condition: "out_of_memory")
        case "53300": return .transient(condition: "too_many_connections")
        case "40001": return .transient(condition: "serialization_failure")
        case "40P01": return .transient(condition: "deadlock")
        case "57014": return .transient(condition: "statement_timeout")
        case "55P03": return .transient(condition: "lock_timeout")
        case "58030": return .transient(condition: "io_error")
        default: break
        }
        switch state.prefix(2) {
        case "22", "23", "54": return .inputSpecific
        case "53": return .transient(condition: "insufficient_resources")
        case "40": return .transient(condition: "transaction_rollback")
        default: return .transient(condition: "sqlstate_\(state)")
        }
    }
}
