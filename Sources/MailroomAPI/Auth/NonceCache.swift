import Synchronization

/// Nonces seen with a valid signature, each remembered until its request's timestamp leaves the clock window,
/// so that a replay inside the window is refused. Bounded: past ``limit`` live entries it refuses new ones.
final class NonceCache: Sendable {
    enum Outcome: Equatable {
        case fresh
        case replayed
        case full
    }

    private struct State {
        var expiries: [String: Int64] = [:]
        /// The earliest time an entry can expire, to skip sweeps that would remove nothing.
        var nextSweep: Int64 = 0
    }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Records `nonce` for `key` until `expiresAt` (Unix ms), unless it is already there.
    func admit(key: [UInt8], nonce: String, expiresAt: Int64, now: Int64) -> Outcome {
        let entry = String(decoding: key, as: UTF8.self) + "|" + nonce
        return state.withLock { state in
            if let expiry = state.expiries[entry], expiry >= now { return .replayed }
            if state.expiries.count >= limit && now >= state.nextSweep {
                state.expiries = state.expiries.filter { $0.value >= now }
                state.nextSweep = (state.expiries.values.min() ?? now) + 1
            }
            guard state.expiries.count < limit else { return .full }
            state.expiries[entry] = expiresAt
            return .fresh
        }
    }

    var count: Int { state.withLock { $0.expiries.count } }
}
