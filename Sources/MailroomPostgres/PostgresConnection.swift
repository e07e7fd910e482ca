public import Logging
internal import Dispatch
internal import Foundation

/// One PostgreSQL session over libpq.
///
/// libpq's calls block, so each connection runs them on a serial dispatch queue of its own; the async methods
/// suspend the calling task meanwhile and never block Swift's cooperative thread pool. Statements on one
/// connection run one at a time, in call order. A connection is one session: use it from one task at a time
/// when a transaction is open (``withTransaction(_:)``), or borrow connections from a pool.
public final class PostgresConnection: @unchecked Sendable {
    /// How to connect. Every property has a sensible default but the URL.
    public struct Configuration: Sendable {
        /// A libpq connection URI (`postgres://user@host:port/db?…`) or `key=value` string.
        public var url: String
        /// Seconds to wait for the server before failing; a URL's own `connect_timeout` wins.
        public var connectTimeout: Int = 5
        /// Shown in `pg_stat_activity`.
        public var applicationName: String = "mailroom"

        public init(url: String, connectTimeout: Int = 5, applicationName: String = "mailroom") {
            self.url = url
            self.connectTimeout = connectTimeout
            self.applicationName = applicationName
        }
    }

    // Touched only on `queue`.
    private let handle: PQConnectionHandle
    private let queue: DispatchQueue
    private let cancelToken: PQCancelToken?
    private let logger: Logger

    private init(handle: PQConnectionHandle, queue: DispatchQueue, logger: Logger) {
        self.handle = handle
        self.queue = queue
        self.cancelToken = handle.makeCancelToken()
        self.logger = logger
    }

    /// Opens a connection.
    /// - Throws: ``PostgresError`` with ``PostgresError/Code/invalidURL`` for a malformed URL, or
    ///   ``PostgresError/Code/connectionFailed`` when the server cannot be reached within the timeout.
    public static func connect(
        _ configuration: Configuration, logger: Logger = Logger(label: "mailroom.postgres")
    ) async throws(PostgresError) -> PostgresConnection {
        try PQConnectionHandle.validate(url: configuration.url)
        let queue = DispatchQueue(label: "mailroom.postgres.connection")
        let result: Result<PQConnectionHandle, PostgresError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(
                    returning: Result { () throws(PostgresError) in
                        try PQConnectionHandle.connect(
                            url: configuration.url, connectTimeout: configuration.connectTimeout,
                            applicationName: configuration.applicationName)
                    })
            }
        }
        let connection = PostgresConnection(handle: try result.get(), queue: queue, logger: logger)
        logger.debug("connected to PostgreSQL")
        return connection
    }

    /// Opens a connection from a URL with default settings.
    public static func connect(
        url: String, logger: Logger = Logger(label: "mailroom.postgres")
    ) async throws(PostgresError) -> PostgresConnection {
        try await connect(Configuration(url: url), logger: logger)
    }

    /// Connects, runs `body`, and closes the connection whether or not `body` throws.
    public static func withConnection<T: Sendable>(
        _ configuration: Configuration, logger: Logger = Logger(label: "mailroom.postgres"),
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
        try await run { handle throws(PostgresError) in try handle.execute(query) }
    }

    /// Runs SQL text holding one or more statements with no parameters, as a migration file does.
    ///
    /// Never pass data here: it is not parameterised. ``query(_:)`` is for everything else.
    public func executeScript(_ sql: String) async throws(PostgresError) {
        try await run { handle throws(PostgresError) in try handle.executeScript(sql) }
    }

    /// Runs `body` inside `BEGIN` … `COMMIT`, rolling back if it throws (and rethrowing its error).
    public func withTransaction<T: Sendable>(
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await query("BEGIN")
        let value: T
        do {
            value = try await body(self)
        } catch {
            if isConnected {
                do { try await query("ROLLBACK") } catch { logger.debug("rollback failed: \(error)") }
            }
            throw error
        }
        try await query("COMMIT")
        return value
    }

    /// Whether the session is still usable.
    public var isConnected: Bool {
        queue.sync { handle.isConnected }
    }

    /// Closes the session. Later calls fail with ``PostgresError/Code/connectionClosed``.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.handle.close()
                continuation.resume()
            }
        }
    }

    /// Runs a blocking libpq call on this connection's queue.
    private func run<T: Sendable>(
        _ body: @escaping @Sendable (PQConnectionHandle) throws(PostgresError) -> T
    ) async throws(PostgresError) -> T {
        let handle = self.handle
        let result: Result<T, PostgresError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                queue.async {
                    continuation.resume(returning: Result { () throws(PostgresError) in try body(handle) })
                }
            }
        } onCancel: { [cancelToken] in
            cancelToken?.requestCancel()
        }
        return try result.get()
    }
}
