internal import Synchronization

/// One ``Ed25519Verifier``'s ``PrecomputedKey`` tables and the policy that decides which keys get one.
///
/// A key gets a table the second time libsodium accepts a signature by it (a table costs about one verification
/// to build, and pays for itself from the fourth message on), up to ``limit`` keys. When all are taken, a new
/// key may take the place of a table that answered nothing for the last 16 x limit checks, and otherwise gets
/// none: with more busy senders than tables, the tables stay with the senders that have them instead of being
/// rebuilt in turn (which would cost a verification per rebuild), and a sender that went quiet gives its place up.
///
/// ``switchOff()`` drops every table for good (the verifier's answer to any disagreement with libsodium).
final class PrecomputedKeys: Sendable {
    /// Most keys with tables (at least 1: a verifier without tables has no ``PrecomputedKeys``).
    let limit: Int

    private struct State {
        var tables: [Encoded32: PrecomputedKey] = [:]
        var ring: [Encoded32] = []
        var next = 0
        /// Keys libsodium accepted once, not yet given a table (cleared when it reaches 4 x limit).
        var seenOnce: Set<Encoded32> = []
        var switchedOff = false
    }

    private let state = Mutex(State())
    /// Entries of the ring looked at for an idle table when all are taken.
    private static let evictionScan = 8

    init(limit: Int) {
        precondition(limit > 0)
        self.limit = limit
    }

    /// The key's table, if it has one.
    func table(for key: Encoded32) -> PrecomputedKey? {
        state.withLock { $0.tables[key] }
    }

    /// Whether the tables were switched off.
    var isSwitchedOff: Bool { state.withLock { $0.switchedOff } }

    /// Drops every table and builds none again. True for the call that switched them off, false after.
    func switchOff() -> Bool {
        state.withLock { state in
            guard !state.switchedOff else { return false }
            state.switchedOff = true
            state.tables.removeAll()
            state.ring.removeAll()
            state.seenOnce.removeAll()
            return true
        }
    }

    /// Whether this acceptance by libsodium is the key's second without a table, and there is room for one (a
    /// free place, or an idle table near the ring's hand).
    func wantsTable(_ key: Encoded32, now: Int) -> Bool {
        state.withLock { state in
            guard !state.switchedOff, state.tables[key] == nil else { return false }
            guard state.ring.count < limit || idlePlace(in: state, now: now) != nil else { return false }
            if state.seenOnce.remove(key) != nil { return true }
            if state.seenOnce.count >= 4 * limit { state.seenOnce.removeAll(keepingCapacity: true) }
            state.seenOnce.insert(key)
            return false
        }
    }

    /// Adds a table that confirmed the signature libsodium accepted; dropped if another thread took the last idle
    /// place meanwhile, or tables were switched off.
    func insert(_ table: PrecomputedKey, now: Int) {
        let key = table.publicKey
        state.withLock { state in
            guard !state.switchedOff, state.tables[key] == nil else { return }
            if state.ring.count < limit {
                state.ring.append(key)
            } else {
                guard let place = idlePlace(in: state, now: now) else { return }
                state.tables.removeValue(forKey: state.ring[place])
                state.ring[place] = key
                state.next = (place + 1) % state.ring.count
            }
            state.tables[key] = table
        }
    }

    /// The ring index of a table idle for 16 x limit checks, among the next ``evictionScan`` from the hand.
    private func idlePlace(in state: State, now: Int) -> Int? {
        let idleBefore = now - 16 * limit
        for step in 0..<min(Self.evictionScan, state.ring.count) {
            let index = (state.next + step) % state.ring.count
            guard let table = state.tables[state.ring[index]] else { return index }
            if table.lastUsed.load(ordering: .relaxed) < idleBefore { return index }
        }
        return nil
    }
}
