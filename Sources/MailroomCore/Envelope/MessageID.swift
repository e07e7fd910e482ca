public import Foundation
internal import Synchronization

/// A message id: a 128-bit ULID, 48-bit big-endian Unix time in milliseconds followed by 80 random bits.
///
/// Ordered by its bytes, which is time order. Written as Textile writes ULIDs: 26 characters of lowercase
/// Crockford base32 (see ``MessageID/description``).
public struct MessageID: Sendable, Hashable, Comparable {
    /// The 16 bytes as a big-endian 128-bit number, so numeric order is byte order.
    let value: UInt128

    /// The largest millisecond time a ULID holds (2^48 − 1, year 10889).
    public static let maxMilliseconds: Int64 = (1 << 48) - 1

    init(value: UInt128) {
        self.value = value
    }

    /// Reads the 16 bytes of a ULID.
    ///
    /// - Throws: ``EnvelopeError`` with code ``EnvelopeError/Code/invalidMessageID`` unless there are 16 bytes.
    public init(bytes: some Collection<UInt8>) throws(EnvelopeError) {
        guard bytes.count == 16 else {
            throw EnvelopeError(.invalidMessageID, "a message id is 16 bytes, got \(bytes.count)")
        }
        // Contiguous storage: two loads instead of an unspecialised element-by-element loop.
        if let id = bytes.withContiguousStorageIfAvailable({ MessageID(copying: UnsafeRawPointer($0.baseAddress!)) }) {
            self = id
            return
        }
        var value: UInt128 = 0
        for byte in bytes { value = value << 8 | UInt128(byte) }
        self.value = value
    }

    init(copying pointer: UnsafeRawPointer) {
        let high = UInt64(bigEndian: pointer.loadUnaligned(as: UInt64.self))
        let low = UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        value = UInt128(high) << 64 | UInt128(low)
    }

    /// A new id for `milliseconds` with 80 fresh random bits (not monotonic; see ``generate()``).
    ///
    /// - Parameter milliseconds: Unix time in milliseconds, `0...maxMilliseconds`.
    /// - Throws: ``EnvelopeError`` with code ``EnvelopeError/Code/invalidMessageID`` if the time is out of range.
    public init(milliseconds: Int64) throws(EnvelopeError) {
        guard (0...Self.maxMilliseconds).contains(milliseconds) else {
            throw EnvelopeError(.invalidMessageID, "time \(milliseconds) ms is outside ULID's 48-bit range")
        }
        self.init(value: UInt128(milliseconds) << 80 | MessageID.randomBits())
    }

    /// A new id for the current time, monotonic within the process: an id generated in the same millisecond as
    /// the previous one (or when the clock stepped back) reuses that millisecond with the random part plus one.
    public static func generate() -> MessageID {
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let fresh = randomBits()
        return MessageID.lastGenerated.withLock { last in
            let next: UInt128
            if let previous = last, Int64(previous >> 80) >= now, previous & randomMask != randomMask {
                next = previous + 1
            } else {
                next = UInt128(min(max(now, 0), maxMilliseconds)) << 80 | fresh
            }
            last = next
            return MessageID(value: next)
        }
    }

    private static let randomMask: UInt128 = (1 << 80) - 1
    private static let lastGenerated = Mutex<UInt128?>(nil)

    private static func randomBits() -> UInt128 {
        var random: UInt128 = 0
        withUnsafeMutableBytes(of: &random) { SodiumRandom.fill(UnsafeMutableRawBufferPointer(rebasing: $0[0..<10])) }
        return random & randomMask
    }

    /// The time part: Unix time in milliseconds.
    public var milliseconds: Int64 { Int64(truncatingIfNeeded: value >> 80) }

    /// The time part as a `Date`.
    public var date: Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// The 16 bytes, big-endian.
    public var bytes: [UInt8] {
        (0..<16).map { UInt8(truncatingIfNeeded: value >> UInt128(8 * (15 - $0))) }
    }

    func write(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: UInt64(truncatingIfNeeded: value >> 64).bigEndian, as: UInt64.self)
        pointer.storeBytes(of: UInt64(truncatingIfNeeded: value).bigEndian, toByteOffset: 8, as: UInt64.self)
    }

    /// Orders ids by their bytes, which is time order.
    public static func < (lhs: MessageID, rhs: MessageID) -> Bool { lhs.value < rhs.value }
}
