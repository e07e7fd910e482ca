import MailroomCore
import Synchronization

/// Collects bulk results from librdkafka's delivery thread: one per message, and for a batched send one per
/// batch's sender copy.
final class BulkResults: Sendable {
    private struct State {
        var results: [BulkResult?]
        var senderCopies: [BulkBatch.SenderCopyResult?]
        var finished = 0
        var failed = 0
        var senderCopiesFinished = 0
        var waiter: CheckedContinuation<Void, Never>?

        var done: Bool { finished == results.count && senderCopiesFinished == senderCopies.count }
    }

    private let state: Mutex<State>
    private let progress: (@Sendable (BulkProgress) -> Void)?
    private let total: Int

    /// - Parameters:
    ///   - count: messages.
    ///   - senderCopies: batches whose sender copy is awaited too.
    init(count: Int, senderCopies: Int = 0, progress: (@Sendable (BulkProgress) -> Void)?) {
        state = Mutex(
            State(
                results: [BulkResult?](repeating: nil, count: count),
                senderCopies: [BulkBatch.SenderCopyResult?](repeating: nil, count: senderCopies)
            )
        )
        self.progress = progress
        total = count
    }

    func record(_ index: Int, _ result: BulkResult) {
        let (snapshot, waiter): (BulkProgress, CheckedContinuation<Void, Never>?) = state.withLock { state in
            state.results[index] = result
            state.finished += 1
            if !result.isSent { state.failed += 1 }
            return (
                BulkProgress(finished: state.finished, failed: state.failed, total: total),
                Self.takeWaiterIfDone(&state)
            )
        }
        progress?(snapshot)
        waiter?.resume()
    }

    /// The outcome of batch `batch`'s sender copy (not counted in the progress, which counts messages).
    func recordSenderCopy(_ batch: Int, _ result: BulkBatch.SenderCopyResult) {
        let waiter = state.withLock { state in
            state.senderCopies[batch] = result
            state.senderCopiesFinished += 1
            return Self.takeWaiterIfDone(&state)
        }
        waiter?.resume()
    }

    /// Batch `batch` was never sealed: no sender copy to wait for.
    func skipSenderCopy(_ batch: Int) {
        let waiter = state.withLock { state in
            state.senderCopiesFinished += 1
            return Self.takeWaiterIfDone(&state)
        }
        waiter?.resume()
    }

    private static func takeWaiterIfDone(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        guard state.done else { return nil }
        defer { state.waiter = nil }
        return state.waiter
    }

    func waitForAll() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.done { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }

    var all: [BulkResult] {
        state.withLock { $0.results.map { $0 ?? .failed(ProducerError(.deliveryFailed, "no result")) } }
    }

    var senderCopies: [BulkBatch.SenderCopyResult?] { state.withLock { $0.senderCopies } }
}
