internal import Synchronization

/// The process's ``PrecomputedKey`` tables, and the one place Mailroom checks an Ed25519 signature.
///
/// A key gets a table the second time libsodium accepts a signature by it (a table costs about one verification
/// to build, and pays for itself from the third message on), up to ``limit`` keys, the oldest evicted first.
/// Every new table must confirm the signature libsodium just accepted before it is used; if one ever does not,
/// tables are switched off for the life of the process and every check goes to libsodium.
final class PrecomputedKeys: Sendable {
    static let shared = PrecomputedKeys()

    /// The default most keys with tables: 1024 x 15 KiB = 15 MiB at most.
    static let defaultLimit = 1024

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
        if let table = state.withLock({ $0.tables[publicKey] }),
            let verdict = table.check(signature: signature, message: message)
        {
            tableChecks.add(1, ordering: .relaxed)
            return verdict
        }
        sodiumChecks.add(1, ordering: .relaxed)
        let verifies = SodiumSign.verify(signature: signature, message: message, publicKey: publicKey)
        if verifies && wantsTable(publicKey) {
            addTable(for: publicKey, confirming: signature, message: message)
        }
        return verifies
    }

    /// Whether this acceptance is the key's second without a table.
    private func wantsTable(_ key: Bytes32) -> Bool {
        state.withLock { state in
            guard state.limit > 0, !state.switchedOff, state.tables[key] == nil else { return false }
            if state.seenOnce.remove(key) != nil { return true }
            if state.seenOnce.count >= 4 * state.limit { state.seenOnce.removeAll(keepingCapacity: true) }
            state.seenOnce.insert(key)
            return false
        }
    }

    private func addTable(for key: Bytes32, confirming signature: UnsafeRawPointer, message: UnsafeRawBufferPointer) {
        // libsodium accepted this signature: a key that does not decode, or a table that refuses the signature, is
        // wrong, and no table is trusted again. (A table cannot confirm an S at or above L: try the next one.)
        let table = PrecomputedKey(uncheckedKey: key)
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
            state.tables[key] = table
            if state.ring.count < state.limit {
                state.ring.append(key)
            } else {
                state.tables.removeValue(forKey: state.ring[state.next])
                state.ring[state.next] = key
                state.next = (state.next + 1) % state.limit
            }
        }
    }
}
