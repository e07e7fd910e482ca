import Synchronization

/// Public keys known to have a mailbox. Mailboxes are never deleted, so a positive answer stays true;
/// unknown keys are looked up in PostgreSQL once per batch. Bounded: when full, it starts again empty.
final class MailboxCache: Sendable {
    private let known: Mutex<Set<[UInt8]>>
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        known = Mutex([])
    }

    /// The keys among `owners` not known to have a mailbox.
    func unknown(among owners: Set<[UInt8]>) -> Set<[UInt8]> {
        known.withLock { owners.subtracting($0) }
    }

    func insert(_ owners: Set<[UInt8]>) {
        known.withLock { known in
            if known.count + owners.count > capacity { known.removeAll(keepingCapacity: true) }
            known.formUnion(owners)
        }
    }

    func contains(_ owner: [UInt8]) -> Bool {
        known.withLock { $0.contains(owner) }
    }
}
