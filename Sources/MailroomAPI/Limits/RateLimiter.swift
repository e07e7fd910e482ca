import Synchronization

/// Token buckets by name (a key, an address): each holds up to `burst` requests and refills at `perSecond`.
///
/// Bounded: at most `maxBuckets` names are tracked; when full, buckets that have refilled completely (and so
/// hold no state worth keeping) are dropped, and if none has, the name gets no bucket of its own and is refused
/// as if empty — so a flood of fresh names cannot grow memory or bypass the limit.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Int64
    }

    private let buckets = Mutex([String: Bucket]())
    let perSecond: Double
    let burst: Double
    let maxBuckets: Int

    init(perSecond: Double, burst: Int, maxBuckets: Int = 100_000) {
        self.perSecond = perSecond
        self.burst = Double(burst)
        self.maxBuckets = maxBuckets
    }

    /// Takes one token for `name` at `now` (Unix ms). Returns nil if allowed, or the whole seconds to wait
    /// (at least 1) before a token is there, for `Retry-After`.
    func take(_ name: String, now: Int64) -> Int? {
        buckets.withLock { buckets in
            var bucket: Bucket
            if let existing = buckets[name] {
                bucket = existing
                let elapsed = Double(max(0, now - bucket.updated)) / 1000
                bucket.tokens = min(burst, bucket.tokens + elapsed * perSecond)
            } else {
                if buckets.count >= maxBuckets {
                    buckets = buckets.filter {
                        Double(max(0, now - $0.value.updated)) / 1000 * perSecond + $0.value.tokens < burst
                    }
                }
                guard buckets.count < maxBuckets else { return Self.wait(for: 1, perSecond: perSecond) }
                bucket = Bucket(tokens: burst, updated: now)
            }
            bucket.updated = now
            guard bucket.tokens >= 1 else {
                buckets[name] = bucket
                return Self.wait(for: 1 - bucket.tokens, perSecond: perSecond)
            }
            bucket.tokens -= 1
            buckets[name] = bucket
            return nil
        }
    }

    private static func wait(for tokens: Double, perSecond: Double) -> Int {
        guard perSecond > 0 else { return 3600 }
        return max(1, Int((tokens / perSecond).rounded(.up)))
    }
}
