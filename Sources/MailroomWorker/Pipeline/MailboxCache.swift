import MailroomCore
import Synchronization

/// Public keys known to have a mailbox. Mailboxes are never deleted, so a positive answer stays true;
/// unknown keys are looked up in PostgreSQL once per batch. Bounded: when full, it starts again empty.
/// Keyed by ``PublicKey`` (32 inline bytes, hashed as four words), not by byte arrays: no allocation and no
/// byte-by-byte hashing per envelope.
final class MailboxCache: Sendable {
    private let known: Mutex<Set<PublicKey>>
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        known = Mutex([])
    }

    /// The keys among `owners` not known to have a mailbox. One lookup per owner: `Set.subtracting` walks the
    /// whole argument, which here is the cache (up to `capacity` keys) rather than the batch.
    func unknown(among owners: Set<PublicKey>) -> Set<PublicKey> {
        known.withLock { known in owners.filter { !known.contains($0) } }
    }

    func insert(_ owners: Set<PublicKey>) {
        known.withLock { known in
            if known.count + owners.count > capacity { known.removeAll(keepingCapacity: true) }
            known.formUnion(owners)
        }
    }
}
