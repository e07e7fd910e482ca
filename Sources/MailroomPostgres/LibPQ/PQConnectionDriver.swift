internal import Dispatch
internal import Synchronization

/// Runs a connection's statements without blocking any thread: the caller's thread sends a statement (libpq in
/// non-blocking mode), the ``PQEventLoop`` thread reads its result once the socket is readable and resumes the
/// waiting task once. Statements run one at a time, in submission order; a statement submitted while another is
/// in flight is sent by the thread that finishes the one before it.
///
/// Every libpq call on the connection happens under this driver's lock, from whichever thread holds it.
/// (`@unchecked Sendable`: `handle` wraps a C pointer and `registration` is cleared when the connection closes;
/// both are touched only under `state`'s lock, or in `init` and `deinit`.)
final class PQConnectionDriver: PQSocketHandler, @unchecked Sendable {
    typealias Completion = CheckedContinuation<Result<PostgresRows, PostgresError>, Never>

    /// One statement (or script, or the close) and the task waiting for it. (`@unchecked Sendable`: its mutable
    /// fields are touched only under the driver's lock.)
    final class Operation: @unchecked Sendable {
        enum Work {
            case query(PostgresQuery)
            case script(String)
            /// A `COPY … FROM STDIN` statement (no parameters) and its whole input.
            case copyIn(String, data: [UInt8])
            case close
        }

        let work: Work
        /// Whether its task's cancellation skips it when it has not started yet (a rollback and the close
        /// run whatever happens to the task).
        let honoursCancellation: Bool
        // Touched only under the driver's lock.
        fileprivate var completion: Completion?
        fileprivate var preparing = false
        fileprivate var outcome: Result<PostgresRows, PostgresError>?
        /// Its task was cancelled before it started.
        fileprivate var cancelled = false

        init(_ work: Work, honoursCancellation: Bool) {
            self.work = work
            self.honoursCancellation = honoursCancellation
        }
    }

    private struct State {
        var inFlight: Operation?
        var waiting: [Operation] = []
        var waitingStart = 0
        var closed = false
        var writePending = false
    }

    // `handle` is touched only under `state`'s lock.
    private let handle: PQConnectionHandle
    private let cancelToken: PQCancelToken?
    /// The loop that reads this connection's results.
    let loop: PQEventLoop
    private var registration: PQEventLoop.Registration?
    private let state = Mutex(State())

    /// Takes over a connected handle, switching it to non-blocking mode; its results are read by `loop`.
    init(handle: PQConnectionHandle, loop: PQEventLoop) throws(PostgresError) {
        try handle.makeNonBlocking()
        self.handle = handle
        self.cancelToken = handle.makeCancelToken()
        self.loop = loop
        self.registration = nil
        self.registration = try loop.register(socket: handle.socket, handler: self)
    }

    deinit {
        if let registration {
            loop.unregister(registration, socketIsOpen: loop.isRegistered(registration, socket: handle.socket))
        }
    }

    /// Whether the session is still usable.
    var isConnected: Bool {
        state.withLock { state in !state.closed && handle.isConnected }
    }

    #if DEBUG
    /// Tests only: the next `COPY` fails as when libpq cannot queue its data.
    func failNextCopyData() {
        state.withLock { _ in handle.failNextCopyData = true }
    }
    #endif

    /// Runs `work` after everything submitted before it and returns its outcome; the calling task waits
    /// (suspended) meanwhile.
    ///
    /// Cancelling the task while its statement runs asks the server to cancel it (SQLSTATE 57014). Cancelling
    /// it before the statement started (already cancelled, or queued behind another) never sends the statement
    /// and fails at once with ``PostgresError/Code/cancelled`` — unless `honoursCancellation` is false, for
    /// statements that must run whatever happens to the task (a rollback, the close).
    func run(_ work: Operation.Work, honoursCancellation: Bool = true) async -> Result<PostgresRows, PostgresError> {
        let operation = Operation(work, honoursCancellation: honoursCancellation)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Completion) in
                var finished: [Operation] = []
                state.withLock { state in
                    operation.completion = continuation
                    if operation.cancelled {
                        operation.outcome = .failure(Self.cancelledError)
                        finished.append(operation)
                    } else if state.inFlight == nil {
                        state.inFlight = operation
                        startInFlight(&state, finished: &finished)
                    } else {
                        state.waiting.append(operation)
                    }
                }
                Self.resume(finished)
            }
        } onCancel: {
            var finished: [Operation] = []
            let isRunning = state.withLock { state -> Bool in
                if state.inFlight === operation { return true }
                guard operation.honoursCancellation, operation.outcome == nil else { return false }
                // Not started: recorded for a `run` whose body has not queued it yet, or taken out of the queue.
                operation.cancelled = true
                let queued = state.waiting.indices.dropFirst(state.waitingStart)
                if let index = queued.first(where: { state.waiting[$0] === operation }) {
                    state.waiting.remove(at: index)
                    operation.outcome = .failure(Self.cancelledError)
                    finished.append(operation)
                }
                return false
            }
            Self.resume(finished)
            // PQcancel connects to the server and waits for it: never on the cooperative pool.
            if isRunning, let cancelToken {
                DispatchQueue.global().async { cancelToken.requestCancel() }
            }
        }
    }

    /// What a statement whose task was cancelled before it started fails with.
    static var cancelledError: PostgresError {
        PostgresError(.cancelled, message: "the task was cancelled before its statement was sent; it did not run")
    }

    /// Called by the event loop: the socket is ready.
    func socketReady() {
        var finished: [Operation] = []
        state.withLock { state in
            guard let operation = state.inFlight else { return }
            do throws(PostgresError) {
                if state.writePending {
                    state.writePending = try handle.flush()
                }
                try handle.consumeInput()
                if !state.writePending {
                    // Also flushes what a full socket held back.
                    state.writePending = try handle.flush()
                }
                try collectResults(&state, operation, finished: &finished)
            } catch {
                fail(&state, operation, error, finished: &finished)
            }
        }
        Self.resume(finished)
    }

    // MARK: Under the lock

    /// Reads every result available; finishes the operation (and starts the next) when its last one is in,
    /// otherwise waits for the socket again.
    private func collectResults(
        _ state: inout State,
        _ operation: Operation,
        finished: inout [Operation]
    )
        throws(PostgresError)
    {
        while !handle.isBusy {
            guard let next = handle.nextResult() else {
                // The statement is complete.
                if operation.preparing {
                    operation.preparing = false
                    let succeeded: Bool
                    if case .failure = operation.outcome { succeeded = false } else { succeeded = true }
                    handle.preparationFinished(succeeded: succeeded)
                    if succeeded, case .query(let query) = operation.work {
                        operation.outcome = nil
                        try send(&state, query, operation)
                        return
                    }
                }
                complete(&state, operation, finished: &finished)
                return
            }
            let result: Result<PostgresRows, PostgresError>
            switch next {
            case .result(let next):
                result = next
            case .copyIn:
                do throws(PostgresError) {
                    if case .copyIn(_, let data) = operation.work {
                        try handle.putCopyData(data)
                    } else {
                        // A COPY FROM STDIN in a script or query: refused, and the server ends it with an error.
                        try handle.abortCopy(reason: "COPY FROM STDIN runs only through PostgresConnection.copyIn")
                    }
                } catch {
                    // libpq could not queue the data or its end (out of memory): the session is stuck in COPY and
                    // would refuse every later statement. Close it, so that callers reconnect (`isConnected`
                    // turns false) instead of finding a session that answers nothing.
                    closeNow(&state)
                    throw error
                }
                state.writePending = try handle.flush()
                continue
            }
            // Keep the first error (a script stops at it) or else the last result.
            if case .failure = operation.outcome { continue }
            operation.outcome = result
        }
        try arm(state)
    }

    private func startInFlight(_ state: inout State, finished: inout [Operation]) {
        while let operation = state.inFlight {
            do throws(PostgresError) {
                switch operation.work {
                case .query(let query):
                    try send(&state, query, operation)
                case .script(let sql), .copyIn(let sql, _):
                    try handle.sendScript(sql)
                    state.writePending = try handle.flush()
                    try arm(state)
                case .close:
                    // Later operations fail: the handle is closed.
                    closeNow(&state)
                    operation.outcome = .success(.empty)
                    finished.append(operation)
                    state.inFlight = nextWaiting(&state)
                    continue
                }
                return
            } catch {
                // Nothing is in flight on the wire: finish this one and go on with the next.
                operation.outcome = .failure(error)
                finished.append(operation)
                state.inFlight = nextWaiting(&state)
            }
        }
    }

    private func send(_ state: inout State, _ query: PostgresQuery, _ operation: Operation) throws(PostgresError) {
        switch try handle.sendQuery(query) {
        case .statement: operation.preparing = false
        case .preparation: operation.preparing = true
        }
        state.writePending = try handle.flush()
        try arm(state)
    }

    private func arm(_ state: State) throws(PostgresError) {
        // A failed connection's socket is closed by libpq, and its number may be reused by another connection.
        guard let registration, loop.isRegistered(registration, socket: handle.socket) else {
            throw handle.currentError()
        }
        try loop.arm(registration, writable: state.writePending)
    }

    private func complete(_ state: inout State, _ operation: Operation, finished: inout [Operation]) {
        if operation.outcome == nil { operation.outcome = .success(.empty) }
        finished.append(operation)
        state.inFlight = nextWaiting(&state)
        startInFlight(&state, finished: &finished)
    }

    /// A connection-level failure: whatever libpq still holds is drained, the operation fails.
    private func fail(_ state: inout State, _ operation: Operation, _ error: PostgresError, finished: inout [Operation])
    {
        var drained = 0
        while drained < 16, !handle.isBusy, handle.nextResult() != nil { drained += 1 }
        if operation.preparing { handle.preparationFinished(succeeded: false) }
        operation.preparing = false
        operation.outcome = .failure(error)
        complete(&state, operation, finished: &finished)
    }

    private func nextWaiting(_ state: inout State) -> Operation? {
        guard state.waitingStart < state.waiting.count else { return nil }
        let next = state.waiting[state.waitingStart]
        state.waitingStart += 1
        if state.waitingStart == state.waiting.count {
            state.waiting.removeAll(keepingCapacity: true)
            state.waitingStart = 0
        }
        return next
    }

    private func closeNow(_ state: inout State) {
        guard !state.closed else { return }
        state.closed = true
        if let registration {
            loop.unregister(registration, socketIsOpen: loop.isRegistered(registration, socket: handle.socket))
            self.registration = nil
        }
        handle.close()
    }

    /// Resumes finished operations' tasks, outside the lock.
    private static func resume(_ operations: [Operation]) {
        for operation in operations {
            let completion = operation.completion
            operation.completion = nil
            completion?.resume(returning: operation.outcome ?? .success(.empty))
        }
    }
}
