/// An error from the query library. The description never holds bodies, keys' secrets or connection passwords.
public struct MailroomQueryError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. Extensible: new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable snake_case name, e.g. `mailbox_not_found`.
        public let name: String
        private init(_ name: String) { self.name = name }

        /// The owner has no mailbox (``MailroomClient/setupMailbox(_:)`` makes one).
        public static let mailboxNotFound = Code("mailbox_not_found")
        /// The owner has no message with this id (it never existed, was deleted, or belongs to someone else).
        public static let messageNotFound = Code("message_not_found")
        /// A page limit outside `1...10000`.
        public static let invalidLimit = Code("invalid_limit")
        /// A watcher fell further behind than its buffer allows; the watch ended. Start a new one and list
        /// the box again to resynchronise.
        public static let watcherTooSlow = Code("watcher_too_slow")
        /// A stored row cannot be read as a message (e.g. a key that is not a valid point).
        public static let corruptRow = Code("corrupt_row")
        /// The client was shut down.
        public static let shutDown = Code("shut_down")
        /// The database could not be reached or the connection was lost; trying again later may succeed.
        public static let databaseUnavailable = Code("database_unavailable")
        /// The database refused the operation; ``MailroomQueryError/sqlState`` says why.
        public static let database = Code("database_error")

        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The database's five-character SQLSTATE, for ``Code/database`` and some ``Code/databaseUnavailable`` errors.
    public var sqlState: String?
    /// Where the error was raised.
    public var file: String
    public var line: Int

    public init(_ code: Code, _ message: String, sqlState: String? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.file = file
        self.line = line
    }

    public var description: String {
        if let sqlState { return "MailroomQueryError.\(code) [\(sqlState)]: \(message)" }
        return "MailroomQueryError.\(code): \(message)"
    }
}
