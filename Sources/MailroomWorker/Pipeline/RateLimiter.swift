import Synchronization

/// A token-bucket limit: up to ``burst`` messages at once, refilled at ``perSecond``.
public struct RateLimit: Sendable, Hashable {
    public var burst: Double
    public var perSecond: Double

    public init(burst: Double, perSecond: Double) {
        self.burst = burst
        self.perSecond = perSecond
    }
}

/// The worker's rate limits on new mail: per (sender, recipient) and per sender, as token buckets in memory.
///
/// Time is the Kafka record's timestamp (when the producer sent it), not the worker's clock, so a backlog
/// drained after an outage is judged by the rate it was sent at, not the rate it is read at. A recipient's
/// partition is read by one worker, so its per-pair buckets are exact; a sender's mail spans partitions, so the
/// per-sender limit holds per worker (N workers let N times as much through). Buckets live in memory: a restart
/// or a rebalance refills them (at most one burst more); quotas and block lists, which must hold across
/// restarts, live in PostgreSQL. At most ``trackedKeys`` buckets are kept per kind; past it full (idle)
/// buckets go first, then the oldest.
final class RateLimiter: Sendable {
    /// Why a message was refused.
    enum Refusal: Sendable, Equatable {
        case pair, sender
    }

    private struct Bucket {
        var tokens: Double
        var at: Int64  // milliseconds
    }

    /// A 32-byte key, held inline and hashed as four words: no allocation and no byte-by-byte hashing per message.
    fileprivate struct Key: Hashable {
        var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

        /// The first 32 bytes of `bytes`, zero-padded (the worker's keys are always 32 bytes).
        init(_ bytes: [UInt8]) {
            withUnsafeMutableBytes(of: &self) { words in
                bytes.withUnsafeBytes { words.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(32))) }
            }
        }
    }

    fileprivate struct Pair: Hashable {
        var sender: Key
        var recipient: Key
    }

    private struct Buckets<K: Hashable> {
        var byKey: [K: Bucket] = [:]

        /// Takes a token from `key`'s bucket at time `now`; false if it has none.
        mutating func take(_ key: K, limit: RateLimit, now: Int64, trackedKeys: Int) -> Bool {
            var bucket = byKey[key] ?? Bucket(tokens: limit.burst, at: now)
            if now > bucket.at {
                bucket.tokens = min(limit.burst, bucket.tokens + Double(now - bucket.at) * limit.perSecond / 1000)
                bucket.at = now
            }
            guard bucket.tokens >= 1 else {
                byKey[key] = bucket
                return false
            }
            bucket.tokens -= 1
            byKey[key] = bucket
            if byKey.count > trackedKeys { trim(limit: limit, now: now, trackedKeys: trackedKeys) }
            return true
        }

        /// Drops buckets that are full again (they carry no state), then the least recently used.
        mutating func trim(limit: RateLimit, now: Int64, trackedKeys: Int) {
            byKey = byKey.filter { _, bucket in
                bucket.tokens + Double(now - bucket.at) * limit.perSecond / 1000 < limit.burst
            }
            guard byKey.count > trackedKeys else { return }
            let keep = byKey.sorted { $0.value.at > $1.value.at }.prefix(trackedKeys / 2)
            byKey = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
    }

    private let pairLimit: RateLimit?
    private let senderLimit: RateLimit?
    private let trackedKeys: Int
    private let state = Mutex<(pairs: Buckets<Pair>, senders: Buckets<Key>)>((Buckets(), Buckets()))

    init(pair: RateLimit?, sender: RateLimit?, trackedKeys: Int) {
        pairLimit = pair.flatMap { $0.burst >= 1 && $0.perSecond > 0 ? $0 : nil }
        senderLimit = sender.flatMap { $0.burst >= 1 && $0.perSecond > 0 ? $0 : nil }
        self.trackedKeys = max(1, trackedKeys)
    }

    var isEnabled: Bool { pairLimit != nil || senderLimit != nil }

    /// Per-pair buckets held now (for tests and metrics).
    var trackedPairs: Int { state.withLock { $0.pairs.byKey.count } }

    /// Charges one message from `sender` to `recipient` sent at `milliseconds`; the refusal if a limit is
    /// spent. The pair's bucket is charged first: a message the sender's limit refuses has spent a pair token.
    func admit(sender: [UInt8], recipient: [UInt8], milliseconds: Int64) -> Refusal? {
        let senderKey = Key(sender)
        let pair = Pair(sender: senderKey, recipient: Key(recipient))
        return state.withLock { state in
            if let pairLimit {
                guard state.pairs.take(pair, limit: pairLimit, now: milliseconds, trackedKeys: trackedKeys)
                else { return .pair }
            }
            if let senderLimit {
                guard state.senders.take(senderKey, limit: senderLimit, now: milliseconds, trackedKeys: trackedKeys)
                else { return .sender }
            }
            return nil
        }
    }
}
