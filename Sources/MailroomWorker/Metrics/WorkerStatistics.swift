import Synchronization

/// Running totals of what a worker did, readable in-process (tests, logs) and mirrored to swift-metrics.
public final class WorkerStatistics: Sendable {
    private let state = Mutex<Snapshot>(Snapshot())

    /// A consistent copy of the totals.
    public struct Snapshot: Sendable, Equatable {
        /// Records taken from Kafka.
        public var consumed = 0
        /// Messages written to the mailboxes for the first time.
        public var stored = 0
        /// Messages that were already stored (redeliveries).
        public var redelivered = 0
        /// Records rejected, by reason code.
        public var rejected: [String: Int] = [:]
        /// Batches committed.
        public var batches = 0
        /// Writes tried again after PostgreSQL failed them, by condition (`connection`, `read_only`,
        /// `disk_full`, `lock_timeout`, …, or `input` for an error the input itself causes).
        public var postgresRetries: [String: Int] = [:]

        /// Every consumed record ends stored, redelivered or rejected.
        public var accountedFor: Int { stored + redelivered + rejected.values.reduce(0, +) }
    }

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func record(consumed: Int, stored: Int, redelivered: Int, rejected: [String: Int]) {
        state.withLock { state in
            state.consumed += consumed
            state.stored += stored
            state.redelivered += redelivered
            state.batches += 1
            for (reason, count) in rejected { state.rejected[reason, default: 0] += count }
        }
    }

    func recordRetry(_ condition: String) {
        state.withLock { $0.postgresRetries[condition, default: 0] += 1 }
    }

    #if DEBUG
    private let heldWrites = Atomic<Int>(0)

    /// Tests only: the batch writes the loop holds (the one in hand and those queued behind it), as the loop last
    /// counted them.
    var writesHeld: Int { heldWrites.load(ordering: .relaxed) }

    func noteWritesHeld(_ count: Int) { heldWrites.store(count, ordering: .relaxed) }
    #endif
}
