import Synchronization

/// A value delivered once, from any thread, to one waiting task — resumed exactly once whichever comes first.
/// (`package`: the worker hands its prefetched poll over with one too.)
package final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value, Never>)
        case fulfilled(Value)
        case done
    }

    private let state = Mutex<State>(.empty)

    package init() {}

    package func fulfill(_ value: Value) {
        let waiter: CheckedContinuation<Value, Never>? = state.withLock { state in
            switch state {
            case .empty:
                state = .fulfilled(value)
                return nil
            case .waiting(let continuation):
                state = .done
                return continuation
            case .fulfilled, .done:
                return nil
            }
        }
        waiter?.resume(returning: value)
    }

    package var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let ready: Value? = state.withLock { state in
                    switch state {
                    case .fulfilled(let value):
                        state = .done
                        return value
                    case .empty:
                        state = .waiting(continuation)
                        return nil
                    case .waiting, .done:
                        preconditionFailure("OneShot awaited twice")
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
