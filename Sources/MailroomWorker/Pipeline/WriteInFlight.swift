import Synchronization

/// The write of one batch, running beside the loop that polls and verifies the next one, and what that loop
/// needs to know about it: whether it is done (and succeeded), or waiting out a failure.
///
/// The loop is the consumer's only poller. While a write waits out a failure (PostgreSQL or the broker down,
/// partitions paused) the loop polls the paused consumer so that the group keeps this member; records such a
/// poll still returns are carried into the next batch, in order.
final class WriteInFlight: Sendable {
    enum Phase: Sendable, Equatable {
        case writing
        case waitingOutFailure
        case done(succeeded: Bool)
    }

    private struct State {
        var phase: Phase = .writing
        var waiter: CheckedContinuation<Phase, Never>?
    }

    private let state = Mutex(State())

    /// Called by the write.
    func enter(_ phase: Phase) {
        let waiter = state.withLock { state -> CheckedContinuation<Phase, Never>? in
            if case .done = state.phase { return nil }
            state.phase = phase
            guard phase != .writing else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: phase)
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
}
