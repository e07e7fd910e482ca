internal import Dispatch
internal import Foundation
public import Logging

/// One PostgreSQL session over libpq.
///
/// libpq runs in non-blocking mode: the calling task sends its statement and waits suspended, and the event loop
/// the connection belongs to (one thread per core, `epoll` on its connections' sockets) reads the result and
/// resumes it; no call blocks Swift's cooperative thread pool. (Connecting blocks, so it runs on a dispatch
/// queue.) Statements on one connection run one at a time, in call order. A connection is one session: use it from one task at a time
/// when a transaction is open (``withTransaction(_:)``), or borrow connections from a pool.
public final class PostgresConnection: Sendable {
    /// How to connect. Every property has a sensible default but the URL.
    public struct Configuration: Sendable {
        /// A libpq connection URI (`postgres://user@host:port/db?…`) or `key=value` string.
        public var url: String
        /// Seconds to wait for the server before failing; a URL's own `connect_timeout` wins.
        public var connectTimeout: Int = 5
        /// Shown in `pg_stat_activity`.
        public var applicationName: String = "mailroom"
        /// libpq's `target_session_attrs` (`read-write` skips a server that is read-only, e.g. a standby after
        /// a failover, and tries the URL's next host); `nil` leaves libpq's default (`any`). A URL's own
        /// `target_session_attrs` wins.
        public var targetSessionAttributes: String?

        public init(
            url: String,
            connectTimeout: Int = 5,
            applicationName: String = "mailroom",
            targetSessionAttributes: String? = nil
        ) {
            self.url = url
            self.connectTimeout = connectTimeout
            self.applicationName = applicationName
            self.targetSessionAttributes = targetSessionAttributes
        }
    }

    private let driver: PQConnectionDriver
    private let logger: Logger

    /// The loop that reads this connection's results.
    var loop: PQEventLoop { driver.loop }

    /// An executor for a task that runs many statements: successive calls hand out the process's event loops in
    /// turn (one per core). A connection opened by a task that prefers one is read by that loop's thread, and the
    /// task resumes on that thread when a result is in, with no hand-over to another thread (see
    /// ``PostgresConnectionPool/nextExecutor()``). Such a task must not block its thread.
    public static func nextExecutor() -> any TaskExecutor { PQEventLoop.next() }

    private init(driver: PQConnectionDriver, logger: Logger) {
        self.driver = driver
        self.logger = logger
    }

    /// Connects, runs one statement and closes the connection, blocking the calling thread throughout (at most
    /// the connect timeout to connect). For code that runs on a thread of its own, never on Swift's pool: a
    /// librdkafka rebalance callback that must answer before it returns.
    public static func blockingQuery(
        _ configuration: Configuration,
        _ query: PostgresQuery
    ) throws(PostgresError) -> PostgresRows {
        let handle = try PQConnectionHandle.connect(
            url: configuration.url,
            connectTimeout: configuration.connectTimeout,
            applicationName: configuration.applicationName,
            targetSessionAttributes: configuration.targetSessionAttributes
        )
        defer { handle.close() }
        return try handle.execute(query)
    }

    /// Opens a connection.
    /// - Throws: ``PostgresError`` with ``PostgresError/Code/invalidURL`` for a malformed URL, or
    ///   ``PostgresError/Code/connectionFailed`` when the server cannot be reached within the timeout.
    public static func connect(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "mailroom.postgres")
    ) async throws(PostgresError) -> PostgresConnection {
        try PQConnectionHandle.validate(url: configuration.url)
        // A connection opened by a task that runs on a loop is read by that loop (see ``PQEventLoop``).
        let loop = PQEventLoop.current ?? PQEventLoop.next()
        let queue = DispatchQueue(label: "mailroom.postgres.connection")
        let result: Result<PQConnectionHandle, PostgresError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(
                    returning: Result { () throws(PostgresError) in
                        try PQConnectionHandle.connect(
                            url: configuration.url,
                            connectTimeout: configuration.connectTimeout,
                            applicationName: configuration.applicationName,
                            targetSessionAttributes: configuration.targetSessionAttributes
                        )
                    }
                )
            }
        }
        let handle = try result.get()
        let driver: PQConnectionDriver
        do {
            driver = try PQConnectionDriver(handle: handle, loop: loop)
        } catch {
            handle.close()
            throw error
        }
        let connection = PostgresConnection(driver: driver, logger: logger)
        logger.debug("connected to PostgreSQL")
        return connection
    }

    /// Opens a connection from a URL with default settings.
    public static func connect(
        url: String,
        logger: Logger = Logger(label: "mailroom.postgres")
    ) async throws(PostgresError) -> PostgresConnection {
        try await connect(Configuration(url: url), logger: logger)
    }

    /// Connects, runs `body`, and closes the connection whether or not `body` throws.
    public static func withConnection<T: Sendable>(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "mailroom.postgres"),
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await connect(configuration, logger: logger)
        do {
            let value = try await body(connection)
            await connection.close()
            return value
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Runs one parameterised statement and returns its rows (empty for commands).
    ///
    /// Statements are prepared once per connection and reused; parameters and results travel in binary.
    /// Cancelling the calling task asks the server to cancel the statement.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws(PostgresError) -> PostgresRows {
        try await driver.run(.query(query)).get()
    }

    /// Runs SQL text holding one or more statements with no parameters, as a migration file does.
    ///
    /// Never pass data here: it is not parameterised. ``query(_:)`` is for everything else.
    public func executeScript(_ sql: String) async throws(PostgresError) {
        _ = try await driver.run(.script(sql)).get()
    }

    /// Runs `statement`, a `COPY … FROM STDIN (FORMAT binary)`, with `data` as its whole input (built with
    /// ``PostgresBinaryCopy``), and returns the number of rows copied.
    ///
    /// The statement is a `StaticString`: the rows travel only in `data`. COPY has no `ON CONFLICT`: a
    /// duplicate key fails the whole statement (SQLSTATE 23505), and inside a transaction the caller rolls back.
    @discardableResult
    public func copyIn(_ statement: StaticString, data: [UInt8]) async throws(PostgresError) -> Int {
        try await driver.run(.copyIn(statement.description, data: data)).get().affectedRows
    }

    /// Runs `body` inside `BEGIN` … `COMMIT`, rolling back if it throws (and rethrowing its error).
    ///
    /// The rollback runs even when the task is cancelled; a `COMMIT` that a cancellation kept from being sent is
    /// rolled back too, so the session never stays inside the transaction.
    public func withTransaction<T: Sendable>(
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await query("BEGIN")
        let value: T
        do {
            value = try await body(self)
        } catch {
            await rollback()
            throw error
        }
        do {
            try await query("COMMIT")
        } catch {
            if error.code == .cancelled { await rollback() }
            throw error
        }
        return value
    }

    /// Ends the open transaction, whatever happens to the calling task.
    private func rollback() async {
        guard isConnected else { return }
        if case .failure(let error) = await driver.run(.query("ROLLBACK"), honoursCancellation: false) {
            logger.debug("rollback failed: \(error)")
        }
    }

    /// Whether the session is still usable.
    public var isConnected: Bool { driver.isConnected }

    #if DEBUG
    /// Tests only: the next ``copyIn(_:data:)`` fails as when libpq cannot queue its data (out of memory).
    func failNextCopyData() { driver.failNextCopyData() }
    #endif

    /// Closes the session (after the statements already submitted). Later calls fail with
    /// ``PostgresError/Code/connectionClosed``.
    public func close() async {
        _ = await driver.run(.close, honoursCancellation: false)
    }
}
