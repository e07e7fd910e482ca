import Testing

@testable import MailroomWorker

/// The token buckets alone: burst, refill by the records' own timestamps, independent pairs, the sender limit,
/// and bounded memory.
@Suite("Rate limiter (no services)")
struct RateLimiterTests {
    let alice: [UInt8] = Array(repeating: 1, count: 32)
    let bob: [UInt8] = Array(repeating: 2, count: 32)
    let carol: [UInt8] = Array(repeating: 3, count: 32)

    @Test func aBurstThenTheRefillRate() {
        let limiter = RateLimiter(pair: RateLimit(burst: 3, perSecond: 2), sender: nil, trackedKeys: 100)
        let results = (0..<5).map { _ in limiter.admit(sender: alice, recipient: bob, milliseconds: 1_000) }
        #expect(results == [nil, nil, nil, .pair, .pair])
        // Another pair has its own bucket.
        #expect(limiter.admit(sender: carol, recipient: bob, milliseconds: 1_000) == nil)
        // 500 ms later one token is back (2 per second), not two.
        #expect(limiter.admit(sender: alice, recipient: bob, milliseconds: 1_500) == nil)
        #expect(limiter.admit(sender: alice, recipient: bob, milliseconds: 1_500) == .pair)
        // A record older than the last one seen refills nothing (timestamps from several producers interleave).
        #expect(limiter.admit(sender: alice, recipient: bob, milliseconds: 900) == .pair)
        // A long pause refills up to the burst only.
        let later = (0..<4).map { _ in limiter.admit(sender: alice, recipient: bob, milliseconds: 100_000) }
        #expect(later == [nil, nil, nil, .pair])
    }

    @Test func theSenderLimitSpansRecipients() {
        let limiter = RateLimiter(
            pair: RateLimit(burst: 10, perSecond: 1),
            sender: RateLimit(burst: 2, perSecond: 1),
            trackedKeys: 100
        )
        #expect(limiter.admit(sender: alice, recipient: bob, milliseconds: 0) == nil)
        #expect(limiter.admit(sender: alice, recipient: carol, milliseconds: 0) == nil)
        #expect(limiter.admit(sender: alice, recipient: bob, milliseconds: 0) == .sender)
        #expect(limiter.admit(sender: bob, recipient: carol, milliseconds: 0) == nil)
    }

    @Test func disabledLimitsAdmitEverything() {
        let limiter = RateLimiter(pair: RateLimit(burst: 0, perSecond: 1), sender: nil, trackedKeys: 100)
        #expect(!limiter.isEnabled)
        #expect((0..<1_000).allSatisfy { _ in limiter.admit(sender: alice, recipient: bob, milliseconds: 0) == nil })
    }

    @Test func memoryStaysBoundedAndActiveBucketsAreKept() {
        let limiter = RateLimiter(pair: RateLimit(burst: 2, perSecond: 0.001), sender: nil, trackedKeys: 50)
        // The flooder spends its bucket first; then 1,000 other senders pass by once each.
        #expect(limiter.admit(sender: alice, recipient: bob, milliseconds: 0) == nil)
        #expect(limiter.admit(sender: alice, recipient: bob, milliseconds: 0) == nil)
        for n in 0..<1_000 {
            var sender = [UInt8](repeating: 9, count: 32)
            sender[0] = UInt8(n & 0xFF)
            sender[1] = UInt8(n >> 8)
            _ = limiter.admit(sender: sender, recipient: bob, milliseconds: 0)
        }
        #expect(limiter.trackedPairs <= 50)
        // Buckets are dropped oldest first (every one here is equally recent, so any may go): never more kept.
        _ = limiter.admit(sender: alice, recipient: bob, milliseconds: 1)
        #expect(limiter.trackedPairs <= 50)
    }
}
