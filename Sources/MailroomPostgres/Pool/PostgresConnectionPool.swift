public import Logging
internal import Synchronization

/// A fixed-size pool of ``PostgresConnection``s, opened lazily and lent out one task at a time.
///
/// Connections never block the cooperative thread pool (see ``PostgresConnection``), and neither does
/// borrowing: a borrower waits (suspended) only when every connection is lent. A connection whose session was
/// lost (an error with ``PostgresError/isConnectionLoss``) is closed instead of returned, and the next borrower
/// opens a fresh one.
public final class PostgresConnectionPool: Sendable {
    /// How big and where. Every property has a default but the connection URL.
    public struct Configuration: Sendable {
        /// Settings for each connection.
        public var connection: PostgresConnection.Configuration
        /// The most connections open at once.
        public var size: Int = 4

        public init(connection: PostgresConnection.Configuration, size: Int = 4) {
            self.connection = connection
            self.size = max(1, size)
        }
    }

    private enum Grant: Sendable {
        case connection(PostgresConnection)
        case mayConnect
        case closed
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Grant, Never>)] = []
        var nextWaiter = 0
        var closed = false
    }

    private let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())

    /// Creates the pool; connections open on first use.
    public init(_ configuration: Configuration, logger: Logger = Logger(label: "mailroom.postgres.pool")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// An executor for a task that runs many statements through this pool; successive calls hand out the
    /// process's event loops in turn (one per core).
    ///
    /// A task that prefers it (`Task(executorPreference:)`, `withTaskExecutorPreference`) is lent connections
    /// read by that executor's thread, and resumes on that thread when a result is in, with no hand-over to
    /// another thread: on a 2-core VM, two such tasks read inbox pages about 1.4 times as fast as two tasks on the
    /// default executor. Such a task must not block its thread: the thread also reads other connections' results.
    public func nextExecutor() -> any TaskExecutor { PQEventLoop.next() }

    /// The pool's size.
    public var size: Int { configuration.size }

    #if DEBUG
    /// Tests only: how many borrowers wait for a connection right now.
    var waitingBorrowers: Int { state.withLock { $0.waiters.count } }
    #endif

    /// Lends a connection to `body` and takes it back afterwards, whether or not `body` throws.
    ///
    /// Do not keep the connection beyond `body`. A transaction opened in `body` must be closed in it
    /// (``PostgresConnection/withTransaction(_:)`` does that).
    /// - Throws: what `body` throws; ``PostgresError`` when no connection can be opened or the pool is closed;
    ///   `CancellationError` if the task is cancelled while waiting for a connection.
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await lease()
        do {
            let value = try await body(connection)
            release(connection, broken: false)
            return value
        } catch let error as PostgresError {
            release(connection, broken: error.isConnectionLoss)
            throw error
        } catch {
            release(connection, broken: false)
            throw error
        }
    }

    /// Closes every idle connection and refuses new borrowers; lent connections close when returned.
    public func close() async {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.open -= state.idle.count
                state.idle.removeAll()
                state.waiters.removeAll()
            }
            return (state.idle, state.waiters)
        }
        for waiter in waiters { waiter.continuation.resume(returning: .closed) }
        for connection in idle { await connection.close() }
    }

    private func lease() async throws -> PostgresConnection {
        enum Immediate {
            case connection(PostgresConnection)
            case connect
            case closed
            case wait
        }
        // A task running on an event loop gets an idle connection of that loop, else a new one (opened on that
        // loop) while the pool has room, else any idle one.
        let loop = PQEventLoop.current
        let immediate = state.withLock { state -> Immediate in
            if state.closed { return .closed }
            if let loop, let index = state.idle.lastIndex(where: { $0.loop === loop }) {
                return .connection(state.idle.remove(at: index))
            }
            if loop == nil || state.open >= configuration.size, let connection = state.idle.popLast() {
                return .connection(connection)
            }
            if state.open < configuration.size {
                state.open += 1
                return .connect
            }
            return .wait
        }
        switch immediate {
        case .connection(let connection): return connection
        case .connect: return try await openConnection()
        case .closed: throw Self.closedError
        case .wait: break
        }
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let grant = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Grant, Never>) in
                let resolved = state.withLock { state -> Grant? in
                    if state.closed { return .closed }
                    if let connection = state.idle.popLast() { return .connection(connection) }
                    if state.open < configuration.size {
                        state.open += 1
                        return .mayConnect
                    }
                    if Task.isCancelled { return .closed }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let resolved { continuation.resume(returning: resolved) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Grant, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: .closed)
        }
        switch grant {
        case .connection(let connection): return connection
        case .mayConnect: return try await openConnection()
        case .closed:
            try Task.checkCancellation()
            throw Self.closedError
        }
    }

    private static var closedError: PostgresError {
        PostgresError(.connectionClosed, message: "the connection pool is closed")
    }

    /// Opens a connection for a slot already counted in `open`; gives the slot back if that fails.
    private func openConnection() async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(configuration.connection, logger: logger)
        } catch {
            giveBackSlot()
            throw error
        }
    }

    private func giveBackSlot() {
        let waiter = state.withLock { state -> CheckedContinuation<Grant, Never>? in
            if !state.closed, !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.open -= 1
            return nil
        }
        waiter?.resume(returning: .mayConnect)
    }

    private func release(_ connection: PostgresConnection, broken: Bool) {
        if broken {
            logger.debug("dropping a connection whose session was lost")
            Task { await connection.close() }
            giveBackSlot()
            return
        }
        let (waiter, closeIt) = state.withLock { state -> (CheckedContinuation<Grant, Never>?, Bool) in
            if state.closed {
                state.open -= 1
                return (nil, true)
            }
            if !state.waiters.isEmpty { return (state.waiters.removeFirst().continuation, false) }
            state.idle.append(connection)
            return (nil, false)
        }
        if let waiter {
            waiter.resume(returning: .connection(connection))
        } else if closeIt {
            Task { await connection.close() }
        }
    }
}
