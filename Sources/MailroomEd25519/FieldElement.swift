/// An element of GF(2^255 - 19) in five 51-bit limbs, for ``PrecomputedKey``'s verification arithmetic.
///
/// Variable time: only public data (public keys, signatures, messages) ever passes through it. Nothing secret
/// may: signing stays in libsodium.
///
/// Limb bounds (every operation's contract; the comments in each say why they hold):
/// - `*` and ``squared()`` accept limbs below 2^54 and return limbs below 2^52;
/// - `-` accepts a minuend below 2^54 and a subtrahend below 2^54 - 152, and returns limbs below 2^52;
/// - `+` does not carry, so each use keeps its sum's limbs below 2^54: the addition formulas add two values below
///   2^53 + 2^14 (a doubled coordinate and a product), everything else adds two values below 2^53.
struct FieldElement {
    var l0: UInt64
    var l1: UInt64
    var l2: UInt64
    var l3: UInt64
    var l4: UInt64

    static let mask: UInt64 = (1 << 51) - 1

    @inline(__always) init(_ l0: UInt64, _ l1: UInt64, _ l2: UInt64, _ l3: UInt64, _ l4: UInt64) {
        self.l0 = l0
        self.l1 = l1
        self.l2 = l2
        self.l3 = l3
        self.l4 = l4
    }

    static let zero = FieldElement(0, 0, 0, 0, 0)
    static let one = FieldElement(1, 0, 0, 0, 0)

    /// A small integer.
    init(_ value: UInt64) {
        precondition(value < 1 << 51)
        self.init(value, 0, 0, 0, 0)
    }

    /// The little-endian 255-bit number in 32 bytes (the top bit, a point's x sign, is ignored). Values from p to
    /// 2^255 - 1 are accepted as they are (callers that need canonical input compare ``encoded()`` with it).
    init(bytes: UnsafeRawPointer) {
        func load(_ offset: Int) -> UInt64 {
            UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        // Limb i starts at bit 51 i: bytes 0, 6 (+3 bits), 12 (+6), 19 (+1), 24 (+12).
        self.init(
            load(0) & Self.mask,
            (load(6) &>> 3) & Self.mask,
            (load(12) &>> 6) & Self.mask,
            (load(19) &>> 1) & Self.mask,
            (load(24) &>> 12) & Self.mask
        )
    }

    /// The canonical little-endian encoding (fully reduced below p).
    func encoded() -> Encoded32 {
        var h = self.carried().carried()
        // Now every limb is below 2^51, so the value is below 2^255 < 2p: subtract p once if h >= p, which is
        // exactly when h + 19 carries out of bit 255.
        var q = (h.l0 &+ 19) &>> 51
        q = (h.l1 &+ q) &>> 51
        q = (h.l2 &+ q) &>> 51
        q = (h.l3 &+ q) &>> 51
        q = (h.l4 &+ q) &>> 51
        h.l0 &+= 19 &* q
        h = h.propagated().value  // drops the carry out, the 2^255 of h + 19 - 2^255 = h - p
        var out = Encoded32()
        withUnsafeMutableBytes(of: &out) { raw in
            raw.storeBytes(of: (h.l0 | h.l1 &<< 51).littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: (h.l1 &>> 13 | h.l2 &<< 38).littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: (h.l2 &>> 26 | h.l3 &<< 25).littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: (h.l3 &>> 39 | h.l4 &<< 12).littleEndian, toByteOffset: 24, as: UInt64.self)
        }
        return out
    }

    /// Whether the value is 0 mod p.
    var isZero: Bool { encoded() == Encoded32() }

    /// Whether the canonical value is odd (the "negative" x of an encoded point).
    var isNegative: Bool { withUnsafeBytes(of: encoded()) { $0[0] & 1 == 1 } }

    /// Carries each limb into the next, from the first to the last: every limb below 2^51, and what the last
    /// carries out (a multiple of 2^255).
    @inline(__always) private func propagated() -> (value: FieldElement, carry: UInt64) {
        var r = self
        r.l1 &+= r.l0 &>> 51
        r.l0 &= Self.mask
        r.l2 &+= r.l1 &>> 51
        r.l1 &= Self.mask
        r.l3 &+= r.l2 &>> 51
        r.l2 &= Self.mask
        r.l4 &+= r.l3 &>> 51
        r.l3 &= Self.mask
        let carry = r.l4 &>> 51
        r.l4 &= Self.mask
        return (r, carry)
    }

    /// One carry pass: limbs below 2^63 in, limbs below 2^51 (the first below 2^51 + 19 * 2^13) out; the carry out
    /// of the last limb comes back into the first times 19 (2^255 = 19 mod p).
    @inline(__always) func carried() -> FieldElement {
        var (r, carry) = propagated()
        r.l0 &+= 19 &* carry
        return r
    }

    @inline(__always) static func + (a: FieldElement, b: FieldElement) -> FieldElement {
        FieldElement(a.l0 &+ b.l0, a.l1 &+ b.l1, a.l2 &+ b.l2, a.l3 &+ b.l3, a.l4 &+ b.l4)
    }

    /// a + 8p - b, carried: a below 2^54 and b below 8p's limbs (2^54 - 152, then 2^54 - 8) never wrap, and the
    /// carried result is below 2^52.
    @inline(__always) static func - (a: FieldElement, b: FieldElement) -> FieldElement {
        FieldElement(
            a.l0 &+ 0x3F_FFFF_FFFF_FF68 &- b.l0,
            a.l1 &+ 0x3F_FFFF_FFFF_FFF8 &- b.l1,
            a.l2 &+ 0x3F_FFFF_FFFF_FFF8 &- b.l2,
            a.l3 &+ 0x3F_FFFF_FFFF_FFF8 &- b.l3,
            a.l4 &+ 0x3F_FFFF_FFFF_FFF8 &- b.l4
        ).carried()
    }

    @inline(__always) static prefix func - (a: FieldElement) -> FieldElement { .zero - a }

    @inline(__always) private static func product(_ a: UInt64, _ b: UInt64) -> UInt128 {
        UInt128(truncatingIfNeeded: a) &* UInt128(truncatingIfNeeded: b)
    }

    /// Carries five 128-bit column sums into limbs. With inputs below 2^54 each column is below 2^115 and the
    /// last below 2^111, so its carry times 19 fits in 64 bits; the result's limbs are below 2^52.
    @inline(__always) private static func reduce(
        _ t0: UInt128,
        _ t1: UInt128,
        _ t2: UInt128,
        _ t3: UInt128,
        _ t4: UInt128
    ) -> FieldElement {
        let t1 = t1 &+ (t0 &>> 51)
        let t2 = t2 &+ (t1 &>> 51)
        let t3 = t3 &+ (t2 &>> 51)
        let t4 = t4 &+ (t3 &>> 51)
        var r0 = UInt64(truncatingIfNeeded: t0) & mask
        var r1 = UInt64(truncatingIfNeeded: t1) & mask
        let r2 = UInt64(truncatingIfNeeded: t2) & mask
        let r3 = UInt64(truncatingIfNeeded: t3) & mask
        let r4 = UInt64(truncatingIfNeeded: t4) & mask
        r0 &+= 19 &* UInt64(truncatingIfNeeded: t4 &>> 51)
        r1 &+= r0 &>> 51
        r0 &= mask
        return FieldElement(r0, r1, r2, r3, r4)
    }

    @inline(__always) static func * (a: FieldElement, b: FieldElement) -> FieldElement {
        // 2^255 = 19 (mod p): a column past the fourth wraps to the start times 19.
        let b1 = b.l1 &* 19
        let b2 = b.l2 &* 19
        let b3 = b.l3 &* 19
        let b4 = b.l4 &* 19
        let t0 = product(a.l0, b.l0) &+ product(a.l1, b4) &+ product(a.l2, b3) &+ product(a.l3, b2) &+ product(a.l4, b1)
        let t1 =
            product(a.l0, b.l1) &+ product(a.l1, b.l0) &+ product(a.l2, b4) &+ product(a.l3, b3) &+ product(a.l4, b2)
        let t2 =
            product(a.l0, b.l2) &+ product(a.l1, b.l1) &+ product(a.l2, b.l0) &+ product(a.l3, b4) &+ product(a.l4, b3)
        let t3 =
            product(a.l0, b.l3) &+ product(a.l1, b.l2) &+ product(a.l2, b.l1) &+ product(a.l3, b.l0)
            &+ product(a.l4, b4)
        let t4 =
            product(a.l0, b.l4) &+ product(a.l1, b.l3) &+ product(a.l2, b.l2) &+ product(a.l3, b.l1)
            &+ product(a.l4, b.l0)
        return reduce(t0, t1, t2, t3, t4)
    }

    @inline(__always) func squared() -> FieldElement {
        let a0 = l0
        let a1 = l1
        let a2 = l2
        let a3 = l3
        let a4 = l4
        let a0x2 = a0 &* 2
        let a1x2 = a1 &* 2
        let a1x38 = a1 &* 38
        let a2x38 = a2 &* 38
        let a3x38 = a3 &* 38
        let a3x19 = a3 &* 19
        let a4x19 = a4 &* 19
        let t0 = Self.product(a0, a0) &+ Self.product(a1x38, a4) &+ Self.product(a2x38, a3)
        let t1 = Self.product(a0x2, a1) &+ Self.product(a2x38, a4) &+ Self.product(a3x19, a3)
        let t2 = Self.product(a0x2, a2) &+ Self.product(a1, a1) &+ Self.product(a3x38, a4)
        let t3 = Self.product(a0x2, a3) &+ Self.product(a1x2, a2) &+ Self.product(a4x19, a4)
        let t4 = Self.product(a0x2, a4) &+ Self.product(a1x2, a3) &+ Self.product(a2, a2)
        return Self.reduce(t0, t1, t2, t3, t4)
    }

    /// Squared `n` times.
    @inline(__always) func squared(times n: Int) -> FieldElement {
        var r = self
        for _ in 0..<n { r = r.squared() }
        return r
    }

    /// z^(2^250 - 1) and z^11, the common start of ``inverse()`` and ``powP58()``.
    private func power250() -> (z250: FieldElement, z11: FieldElement) {
        let z2 = squared()
        let z9 = z2.squared(times: 2) * self
        let z11 = z9 * z2
        let z5_0 = z11.squared() * z9  // 2^5 - 1
        let z10_0 = z5_0.squared(times: 5) * z5_0
        let z20_0 = z10_0.squared(times: 10) * z10_0
        let z40_0 = z20_0.squared(times: 20) * z20_0
        let z50_0 = z40_0.squared(times: 10) * z10_0
        let z100_0 = z50_0.squared(times: 50) * z50_0
        let z200_0 = z100_0.squared(times: 100) * z100_0
        let z250_0 = z200_0.squared(times: 50) * z50_0
        return (z250_0, z11)
    }

    /// 1 / z (z^(p - 2) = z^(2^255 - 21)); 0 for 0.
    func inverse() -> FieldElement {
        let (z250, z11) = power250()
        return z250.squared(times: 5) * z11
    }

    /// z^((p - 5) / 8) = z^(2^252 - 3), for square roots.
    func powP58() -> FieldElement {
        power250().z250.squared(times: 2) * self
    }
}
