import Synchronization

/// The write of one batch, running beside the loop that polls and verifies the next ones, and what others need
/// to know about it: whether it is done (and succeeded), or waiting out a failure.
///
/// The loop is the consumer's only poller. While a write waits out a failure (PostgreSQL or the broker down,
/// partitions paused) the loop polls the paused consumer so that the group keeps this member; records such a
/// poll still returns are carried into the next batch, in order.
///
/// Two parties wait on a write: the loop (``settled()``, which also wakes on a wait), and the next batch's write,
/// which starts only once this one is done (``completion()``), so that offsets move in order.
final class WriteInFlight: Sendable {
    enum Phase: Sendable, Equatable {
        case writing
        case waitingOutFailure
        case done(succeeded: Bool)
    }

    private struct State {
        var phase: Phase = .writing
        var waiter: CheckedContinuation<Phase, Never>?
        var completionWaiters: [CheckedContinuation<Bool, Never>] = []
        var begun = false
        var begunWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// The envelope bytes (record values) of the batch, held until the write is done.
    let bytes: Int

    init(bytes: Int = 0) {
        self.bytes = bytes
    }

    /// Called by the write once it has prepared its rows and made its lookups: the next batch may then prepare its
    /// own (so that batches prepare one at a time, in order). Also implied by ``enter(_:)`` with `.done`.
    func begin() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.begun = true
            defer { state.begunWaiters = [] }
            return state.begunWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the write has begun (``begin()``) or is done.
    func begun() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.begun { return true }
                state.begunWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Called by the write.
    func enter(_ phase: Phase) {
        if case .done = phase { begin() }
        typealias Wake = (settled: CheckedContinuation<Phase, Never>?, completions: [CheckedContinuation<Bool, Never>])
        let (waiter, completions) = state.withLock { state -> Wake in
            if case .done = state.phase { return (nil, []) }
            state.phase = phase
            guard phase != .writing else { return (nil, []) }
            defer { state.waiter = nil }
            guard case .done = phase else { return (state.waiter, []) }
            defer { state.completionWaiters = [] }
            return (state.waiter, state.completionWaiters)
        }
        waiter?.resume(returning: phase)
        if case .done(let succeeded) = phase {
            for completion in completions { completion.resume(returning: succeeded) }
        }
    }

    /// Returns once the write is done or waiting out a failure (at once if it already is). One waiter at a time.
    func settled() async -> Phase {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Phase? in
                if state.phase == .writing {
                    state.waiter = continuation
                    return nil
                }
                return state.phase
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    #if DEBUG
    /// Tests only: whether the loop waits in ``settled()``, and how many wait in ``completion()``.
    var waiting: (settled: Bool, completions: Int) {
        state.withLock { ($0.waiter != nil, $0.completionWaiters.count) }
    }
    #endif

    /// Whether the write succeeded, once it is done; `nil` while it is not.
    var outcome: Bool? {
        state.withLock { state in
            if case .done(let succeeded) = state.phase { return succeeded }
            return nil
        }
    }

    /// Returns once the write is done: whether it succeeded.
    func completion() async -> Bool {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool? in
                if case .done(let succeeded) = state.phase { return succeeded }
                state.completionWaiters.append(continuation)
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}

/// How many verified batches may wait behind the write in hand (``WorkerConfiguration/writeQueueDepth`` and
/// ``WorkerConfiguration/writeQueueBytes``).
struct WriteQueueLimit: Sendable, Equatable {
    var depth: Int
    var bytes: Int

    /// Whether the loop must wait for the oldest of `writes` before queuing a batch of `incoming` bytes. An empty
    /// queue always takes the batch, however large.
    func isFull(writes: Int, queuedBytes: Int, incoming: Int) -> Bool {
        guard writes > 0 else { return false }
        return writes >= max(1, depth) || queuedBytes + incoming > bytes
    }
}
