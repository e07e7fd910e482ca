internal import Synchronization

/// The process's ``PrecomputedKey`` tables, and the one place Mailroom checks an Ed25519 signature.
///
/// A key gets a table the second time libsodium accepts a signature by it (a table costs about one verification
/// to build, and pays for itself from the fourth message on), up to ``limit`` keys. When all are taken, a new
/// key may take the place of a table that answered nothing for the last 16 x limit checks, and otherwise gets
/// none: with more busy senders than tables, the tables stay with the senders that have them instead of being
/// rebuilt in turn (which would cost a verification per rebuild), and a sender that went quiet gives its place up.
///
/// Every new table must confirm the signature libsodium just accepted before it is used; if one ever does not,
/// tables are switched off for the life of the process and every check goes to libsodium.
final class PrecomputedKeys: Sendable {
    static let shared = PrecomputedKeys()

    /// The default most keys with tables: 1024 x 15 KiB = 15 MiB at most, in an optimised build. A debug build
    /// runs the tables' Swift arithmetic unoptimised, about 45 times slower than libsodium's C (measured: the
    /// envelope fuzz test took 40 s with tables, 5 s without), so there the default is 0; tests that exercise
    /// tables set a limit.
    #if DEBUG
    static let defaultLimit = 0
    #else
    static let defaultLimit = 1024
    #endif

    private struct State {
        var limit = PrecomputedKeys.defaultLimit
        var tables: [Bytes32: PrecomputedKey] = [:]
        var ring: [Bytes32] = []
        var next = 0
        /// Keys libsodium accepted once, not yet given a table (cleared when it reaches 4 x limit).
        var seenOnce: Set<Bytes32> = []
        var switchedOff = false
    }

    private let state = Mutex(State())
    private let tableChecks = Atomic<Int>(0)
    private let sodiumChecks = Atomic<Int>(0)
    private let built = Atomic<Int>(0)
    /// Checks so far, both kinds: the clock that tables' idleness is measured on.
    private let clock = Atomic<Int>(0)
    /// Entries of the ring looked at for an idle table when all are taken.
    private static let evictionScan = 8

    /// Most keys with tables; 0 sends every check to libsodium. Lowering it drops every table.
    var limit: Int {
        get { state.withLock { $0.limit } }
        set {
            precondition(newValue >= 0)
            state.withLock { state in
                if newValue < state.limit {
                    state.tables.removeAll()
                    state.ring.removeAll()
                    state.next = 0
                    state.seenOnce.removeAll()
                }
                state.limit = newValue
            }
        }
    }

    /// Checks answered by a table, checks given to libsodium, tables built, and whether tables are switched off.
    var statistics: (tableChecks: Int, sodiumChecks: Int, tablesBuilt: Int, switchedOff: Bool) {
        (
            tableChecks.load(ordering: .relaxed), sodiumChecks.load(ordering: .relaxed), built.load(ordering: .relaxed),
            state.withLock { $0.switchedOff }
        )
    }

    /// Whether the detached signature (64 bytes) over `message` verifies with the key, exactly as libsodium's
    /// `crypto_sign_verify_detached` answers.
    func verify(signature: UnsafeRawPointer, message: UnsafeRawBufferPointer, publicKey: Bytes32) -> Bool {
        let now = clock.add(1, ordering: .relaxed).newValue
        if let table = state.withLock({ $0.tables[publicKey] }),
            let verdict = table.check(signature: signature, message: message)
        {
            table.lastUsed.store(now, ordering: .relaxed)
            tableChecks.add(1, ordering: .relaxed)
            return verdict
        }
        sodiumChecks.add(1, ordering: .relaxed)
        let verifies = SodiumSign.verify(signature: signature, message: message, publicKey: publicKey)
        if verifies && wantsTable(publicKey, now: now) {
            addTable(for: publicKey, confirming: signature, message: message, now: now)
        }
        return verifies
    }

    /// Whether this acceptance is the key's second without a table, and there is room for one (a free place, or an
    /// idle table near the ring's hand).
    private func wantsTable(_ key: Bytes32, now: Int) -> Bool {
        state.withLock { state in
            guard state.limit > 0, !state.switchedOff, state.tables[key] == nil else { return false }
            guard state.ring.count < state.limit || Self.idlePlace(in: state, now: now) != nil else { return false }
            if state.seenOnce.remove(key) != nil { return true }
            if state.seenOnce.count >= 4 * state.limit { state.seenOnce.removeAll(keepingCapacity: true) }
            state.seenOnce.insert(key)
            return false
        }
    }

    /// The ring index of a table idle for 16 x limit checks, among the next ``evictionScan`` from the hand.
    private static func idlePlace(in state: State, now: Int) -> Int? {
        let idleBefore = now - 16 * state.limit
        for step in 0..<min(evictionScan, state.ring.count) {
            let index = (state.next + step) % state.ring.count
            guard let table = state.tables[state.ring[index]] else { return index }
            if table.lastUsed.load(ordering: .relaxed) < idleBefore { return index }
        }
        return nil
    }

    private func addTable(
        for key: Bytes32,
        confirming signature: UnsafeRawPointer,
        message: UnsafeRawBufferPointer,
        now: Int
    ) {
        // libsodium accepted this signature: a key that does not decode, or a table that refuses the signature, is
        // wrong, and no table is trusted again. (A table cannot confirm an S at or above L: try the next one.)
        let table = PrecomputedKey(uncheckedKey: key, now: now)
        let confirmed = table?.check(signature: signature, message: message)
        guard let table, confirmed != false else {
            state.withLock { state in
                state.switchedOff = true
                state.tables.removeAll()
                state.ring.removeAll()
            }
            return
        }
        guard confirmed == true else { return }
        built.add(1, ordering: .relaxed)
        state.withLock { state in
            guard state.limit > 0, !state.switchedOff, state.tables[key] == nil else { return }
            if state.ring.count < state.limit {
                state.ring.append(key)
            } else {
                // Another thread may have taken the idle place meanwhile: then this table is dropped.
                guard let place = Self.idlePlace(in: state, now: now) else { return }
                state.tables.removeValue(forKey: state.ring[place])
                state.ring[place] = key
                state.next = (place + 1) % state.ring.count
            }
            state.tables[key] = table
        }
    }
}
