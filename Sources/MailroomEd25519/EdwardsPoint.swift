/// Points of edwards25519 (-x^2 + y^2 = 1 + d x^2 y^2) in the representations fast verification needs, with the
/// complete addition and doubling formulas of Hisil, Wong, Carter and Dawson ("Twisted Edwards curves revisited",
/// 2008) for a = -1. Variable time, public data only (see ``FieldElement``).

/// Extended coordinates: x = X/Z, y = Y/Z, x y = T/Z.
struct ExtendedPoint {
    var x: FieldElement
    var y: FieldElement
    var z: FieldElement
    var t: FieldElement

    static let identity = ExtendedPoint(x: .zero, y: .one, z: .one, t: .zero)

    /// The curve constant d = -121665 / 121666.
    static let d: FieldElement = -(FieldElement(121_665) * FieldElement(121_666).inverse())
    /// 2 d, carried.
    static let d2: FieldElement = (d + d).carried()
    /// A square root of -1: 2^((p - 1) / 4), since 2 is not a square mod p.
    static let sqrtMinusOne: FieldElement = FieldElement(2).powP58().squared() * FieldElement(2)

    /// Decodes a point's 32-byte encoding, or nil if it is not on the curve or not canonical.
    init?(decoding bytes: Encoded32) {
        let y = withUnsafeBytes(of: bytes) { FieldElement(bytes: $0.baseAddress!) }
        let sign = withUnsafeBytes(of: bytes) { $0[31] &>> 7 }
        // x^2 = u / v with u = y^2 - 1, v = d y^2 + 1; x = u v^3 (u v^7)^((p - 5) / 8) is a root of u / v or of -u / v.
        let y2 = y.squared()
        let u = y2 - .one
        let v = (Self.d * y2 + .one).carried()
        let v3 = v.squared() * v
        var x = u * v3 * (u * v3.squared() * v).powP58()
        let vx2 = v * x.squared()
        if (vx2 - u).isZero {
            // x is a root.
        } else if (vx2 + u).isZero {
            x = x * Self.sqrtMinusOne
        } else {
            return nil
        }
        if x.isZero && sign == 1 { return nil }
        if x.isNegative != (sign == 1) { x = -x }
        self.init(x: x, y: y, z: .one, t: x * y)
        // Non-canonical y (p or above) decodes but does not encode back to the same bytes.
        guard ProjectivePoint(self).encoded() == bytes else { return nil }
    }

    init(x: FieldElement, y: FieldElement, z: FieldElement, t: FieldElement) {
        self.x = x
        self.y = y
        self.z = z
        self.t = t
    }

    /// The point in the form ``+(_:_:)-(ExtendedPoint,CachedPoint)`` takes.
    @inline(__always) var cached: CachedPoint {
        CachedPoint(yPlusX: y + x, yMinusX: y - x, z: z, t2d: t * Self.d2)
    }

    /// P + Q, for Q in precomputed affine form (7 multiplications).
    @inline(__always) static func + (p: ExtendedPoint, q: NielsPoint) -> CompletedPoint {
        let a = (p.y - p.x) * q.yMinusX
        let b = (p.y + p.x) * q.yPlusX
        let c = p.t * q.xy2d
        let d = p.z + p.z
        return CompletedPoint(x: b - a, y: b + a, z: d + c, t: d - c)
    }

    /// P - Q, for Q in precomputed affine form (-Q swaps y + x with y - x and negates 2 d x y).
    @inline(__always) static func - (p: ExtendedPoint, q: NielsPoint) -> CompletedPoint {
        let a = (p.y - p.x) * q.yPlusX
        let b = (p.y + p.x) * q.yMinusX
        let c = p.t * q.xy2d
        let d = p.z + p.z
        return CompletedPoint(x: b - a, y: b + a, z: d - c, t: d + c)
    }

    /// P + Q, for Q in projective cached form.
    @inline(__always) static func + (p: ExtendedPoint, q: CachedPoint) -> CompletedPoint {
        let a = (p.y - p.x) * q.yMinusX
        let b = (p.y + p.x) * q.yPlusX
        let c = p.t * q.t2d
        let zz = p.z * q.z
        let d = zz + zz
        return CompletedPoint(x: b - a, y: b + a, z: d + c, t: d - c)
    }

    /// 2P.
    @inline(__always) func doubled() -> CompletedPoint { ProjectivePoint(self).doubled() }
}

/// The result of an addition or doubling: x = X/Z, y = Y/T ("P1xP1" in ref10's terms).
struct CompletedPoint {
    var x: FieldElement
    var y: FieldElement
    var z: FieldElement
    var t: FieldElement

    @inline(__always) var extended: ExtendedPoint {
        ExtendedPoint(x: x * t, y: y * z, z: z * t, t: x * y)
    }

    @inline(__always) var projective: ProjectivePoint {
        ProjectivePoint(x: x * t, y: y * z, z: z * t)
    }
}

/// Projective coordinates: x = X/Z, y = Y/Z (enough for doubling and encoding).
struct ProjectivePoint {
    var x: FieldElement
    var y: FieldElement
    var z: FieldElement

    @inline(__always) init(x: FieldElement, y: FieldElement, z: FieldElement) {
        self.x = x
        self.y = y
        self.z = z
    }

    @inline(__always) init(_ p: ExtendedPoint) {
        self.init(x: p.x, y: p.y, z: p.z)
    }

    /// 2P: with A = X^2, B = Y^2, the result is x = (2XY) / (B - A), y = (A + B) / (2Z^2 - (B - A)).
    @inline(__always) func doubled() -> CompletedPoint {
        let a = x.squared()
        let b = y.squared()
        let zz = z.squared()
        let c = zz + zz
        let sum = b + a
        let difference = b - a
        return CompletedPoint(x: (x + y).squared() - sum, y: sum, z: difference, t: c - difference)
    }

    /// The 32-byte encoding: y, with x's parity in the top bit.
    func encoded() -> Encoded32 {
        let inverse = z.inverse()
        var bytes = (y * inverse).encoded()
        if (x * inverse).isNegative {
            withUnsafeMutableBytes(of: &bytes) { $0[31] |= 0x80 }
        }
        return bytes
    }

    /// Whether this is the neutral element (0, 1).
    var isIdentity: Bool { x.isZero && (y - z).isZero }
}

/// An affine point kept as (y + x, y - x, 2 d x y): the form table entries take.
struct NielsPoint {
    var yPlusX: FieldElement
    var yMinusX: FieldElement
    var xy2d: FieldElement
}

/// A projective point kept as (Y + X, Y - X, Z, 2 d T).
struct CachedPoint {
    var yPlusX: FieldElement
    var yMinusX: FieldElement
    var z: FieldElement
    var t2d: FieldElement
}
