internal import Synchronization

/// A thread-safe map with a fixed capacity; when full, the oldest insertion is evicted (FIFO ring).
///
/// FIFO rather than LRU keeps a hit to one dictionary lookup under the lock, with no bookkeeping; for Mailroom's
/// access pattern (a working set of active senders and recipients far smaller than the capacity) it evicts
/// the same keys LRU would.
final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var entries: [Key: Value] = [:]
        var ring: [Key] = []
        var next = 0
    }

    let capacity: Int
    private let state: Mutex<State>

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        var initial = State()
        initial.entries.reserveCapacity(capacity)
        initial.ring.reserveCapacity(capacity)
        state = Mutex(initial)
    }

    subscript(key: Key) -> Value? {
        state.withLock { $0.entries[key] }
    }

    var count: Int { state.withLock { $0.entries.count } }

    func insert(_ value: Value, for key: Key) {
        state.withLock { state in
            if state.entries.updateValue(value, forKey: key) != nil { return }
            if state.ring.count < capacity {
                state.ring.append(key)
            } else {
                state.entries.removeValue(forKey: state.ring[state.next])
                state.ring[state.next] = key
                state.next = (state.next + 1) % capacity
            }
        }
    }

    /// Returns the cached value, or computes it outside the lock and caches it if `compute` gives non-nil.
    func value(for key: Key, compute: (Key) -> Value?) -> Value? {
        if let hit = self[key] { return hit }
        guard let computed = compute(key) else { return nil }
        insert(computed, for: key)
        return computed
    }
}
