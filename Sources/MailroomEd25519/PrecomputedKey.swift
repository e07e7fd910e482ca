internal import Synchronization

/// An Ed25519 public key with multiples of itself precomputed, so that checking a signature costs about 40% of a
/// libsodium `crypto_sign_verify_detached` (see docs/ARCHITECTURE.md, "Signature checks").
///
/// Verification computes R' = [S]B - [h]A and compares its encoding with the signature's R, as libsodium does.
/// libsodium shares 253 doublings between the two scalars and decodes A each time; here both B and A have
/// fixed-base tables (radix 16, ``digitStride`` digit positions per table row), so [S]B - [h]A is 128 additions of
/// table entries and 12 doublings, and A is decoded once per key. The same point comes out either way, so the
/// verdict is libsodium's: ``check(signature:message:)`` answers only for the signatures whose checks it repeats
/// exactly (S below the group order, R not of small order, the key already accepted by libsodium) and returns
/// nil for the rest, which the caller gives to libsodium. ``Ed25519Verifier`` re-checks its refusals and a sample
/// of its acceptances with libsodium all the same.
///
/// Variable time: it handles public data only.
///
/// `package`, not internal, so that the differential test (`ed25519-differential`, a release build, where
/// `@testable` is not available) can compare its raw verdicts with libsodium's.
///
/// `@unchecked Sendable`: `entries` is a raw pointer the compiler cannot see through; the memory is written only
/// by `init` and read-only afterwards (freed in `deinit`), and `lastUsed` is an atomic.
package final class PrecomputedKey: @unchecked Sendable {
    /// Digit positions per row: the table holds, for row p, k 16^(digitStride p) P for k in 1...8.
    static let digitStride = 4
    static let rows = 64 / digitStride
    /// Field elements in one table.
    private static let elements = rows * 8 * 3

    /// Bytes one table holds (15 KiB).
    static let tableBytes = elements * MemoryLayout<FieldElement>.stride

    package let publicKey: Encoded32
    /// ``PrecomputedKeys``'s check count when this table last answered (or was built): how idle it is.
    let lastUsed: Atomic<Int>
    /// rows x 8 entries, each (y + x, y - x, 2 d x y). Immutable after init: shared by all threads.
    private let entries: UnsafeMutablePointer<FieldElement>

    /// The base point B's table, built once.
    static let base: PrecomputedKey = {
        var encoding = Encoded32()
        withUnsafeMutableBytes(of: &encoding) { raw in
            raw[0] = 0x58
            for index in 1..<32 { raw[index] = 0x66 }  // y = 4/5, x even
        }
        return PrecomputedKey(uncheckedKey: encoding)!
    }()

    /// Builds the table for a key (about as much work as one libsodium verification), or nil if the bytes do
    /// not decode to a point. The caller must have seen libsodium accept a signature by this key (which checks
    /// the key's encoding and order); ``Ed25519Verifier`` does.
    package init?(uncheckedKey key: Encoded32, now: Int = 0) {
        guard let point = ExtendedPoint(decoding: key) else { return nil }
        publicKey = key
        lastUsed = Atomic(now)
        entries = .allocate(capacity: Self.elements)
        Self.fill(entries, with: point)
    }

    deinit { entries.deallocate() }

    /// Computes every row's multiples in extended coordinates, then brings them all to affine form with one
    /// inversion (Montgomery's trick).
    private static func fill(_ entries: UnsafeMutablePointer<FieldElement>, with point: ExtendedPoint) {
        let count = rows * 8
        var points = [ExtendedPoint](repeating: .identity, count: count)
        var rowBase = point
        for row in 0..<rows {
            let first = row * 8
            points[first] = rowBase
            let cached = rowBase.cached
            points[first + 1] = rowBase.doubled().extended
            for k in 2..<8 { points[first + k] = (points[first + k - 1] + cached).extended }
            guard row + 1 < rows else { break }
            // The next row's base: 16^digitStride = 2^(4 digitStride) times this row's; 8P = 2^3 P is in hand.
            var next = ProjectivePoint(points[first + 7])
            for _ in 0..<(4 * digitStride - 4) { next = next.doubled().projective }
            rowBase = next.doubled().extended
        }
        // prefix[i] = z_0 ... z_i; walk back from the inverse of the whole product.
        var prefix = [FieldElement](repeating: .one, count: count)
        var running = FieldElement.one
        for index in 0..<count {
            running = running * points[index].z
            prefix[index] = running
        }
        var inverse = running.inverse()
        for index in stride(from: count - 1, through: 0, by: -1) {
            let zInverse = index == 0 ? inverse : inverse * prefix[index - 1]
            inverse = inverse * points[index].z
            let x = points[index].x * zInverse
            let y = points[index].y * zInverse
            entries[3 * index] = (y + x).carried()
            entries[3 * index + 1] = y - x
            entries[3 * index + 2] = x * y * ExtendedPoint.d2
        }
    }

    @inline(__always) private func entry(row: Int, digit: Int) -> NielsPoint {
        let start = entries + 3 * (row * 8 + digit - 1)
        return NielsPoint(yPlusX: start[0], yMinusX: start[1], xy2d: start[2])
    }

    /// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
    package static let groupOrder: [UInt8] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ]

    /// Whether the 32 little-endian bytes are below L.
    package static func isBelowGroupOrder(_ scalar: UnsafeRawPointer) -> Bool {
        for index in stride(from: 31, through: 0, by: -1) {
            let byte = scalar.load(fromByteOffset: index, as: UInt8.self)
            if byte != groupOrder[index] { return byte < groupOrder[index] }
        }
        return false
    }

    /// Checks a detached signature (64 bytes) over `message` by this key: true or false where the answer is
    /// certainly libsodium's, nil where libsodium must decide (S not below L).
    package func check(signature: UnsafeRawPointer, message: UnsafeRawBufferPointer) -> Bool? {
        let r = signature
        let s = signature + 32
        guard Self.isBelowGroupOrder(s) else { return nil }
        let h = Libsodium.challenge(r: r, publicKey: publicKey, message: message)
        let point = withUnsafeBytes(of: h) { combination(s: s, h: $0.baseAddress!) }
        let encoded = ProjectivePoint(point).encoded()
        let matches = withUnsafeBytes(of: encoded) { Libsodium.equal32($0.baseAddress!, r) }
        guard matches else { return false }
        // libsodium refuses an R of small order even when it matches; R' = R is canonical here, so R is of small
        // order exactly when 8 R' is the identity.
        var eight = ProjectivePoint(point)
        for _ in 0..<3 { eight = eight.doubled().projective }
        return !eight.isIdentity
    }

    /// [s]B - [h]A for scalars below 2^255: both in signed radix 16, rows added with the stride's digit offset,
    /// then 16x between offsets.
    private func combination(s: UnsafeRawPointer, h: UnsafeRawPointer) -> ExtendedPoint {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 128) { digits in
            Self.radix16(s, into: digits.baseAddress!)
            Self.radix16(h, into: digits.baseAddress! + 64)
            let base = Self.base
            var accumulator = ExtendedPoint.identity
            for offset in stride(from: Self.digitStride - 1, through: 0, by: -1) {
                if offset != Self.digitStride - 1 {
                    var p = ProjectivePoint(accumulator)
                    for _ in 0..<3 { p = p.doubled().projective }
                    accumulator = p.doubled().extended
                }
                for row in 0..<Self.rows {
                    let index = row * Self.digitStride + offset
                    let sDigit = Int(digits[index])
                    if sDigit > 0 {
                        accumulator = (accumulator + base.entry(row: row, digit: sDigit)).extended
                    } else if sDigit < 0 {
                        accumulator = (accumulator - base.entry(row: row, digit: -sDigit)).extended
                    }
                    let hDigit = Int(digits[64 + index])
                    if hDigit > 0 {
                        accumulator = (accumulator - entry(row: row, digit: hDigit)).extended
                    } else if hDigit < 0 {
                        accumulator = (accumulator + entry(row: row, digit: -hDigit)).extended
                    }
                }
            }
            return accumulator
        }
    }

    /// 64 signed digits in -8...8 with sum e_i 16^i equal to the scalar (which must be below 2^255).
    private static func radix16(_ scalar: UnsafeRawPointer, into e: UnsafeMutablePointer<Int8>) {
        for index in 0..<32 {
            let byte = scalar.load(fromByteOffset: index, as: UInt8.self)
            e[2 * index] = Int8(byte & 15)
            e[2 * index + 1] = Int8(byte &>> 4)
        }
        var carry: Int8 = 0
        for index in 0..<63 {
            e[index] &+= carry
            carry = (e[index] &+ 8) &>> 4
            e[index] &-= carry &<< 4
        }
        e[63] &+= carry
    }
}
