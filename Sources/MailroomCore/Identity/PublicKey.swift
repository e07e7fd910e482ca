/// A user's public identity: an Ed25519 public key that is a valid curve point.
///
/// Every public initialiser validates the point (`crypto_core_ed25519_is_valid_point`, cached), so a `PublicKey`
/// can always receive messages and check signatures. Ordered by its bytes; printed as its Textile key string.
public struct PublicKey: Sendable, Hashable, Comparable {
    /// The 32 bytes, inline.
    let raw: Bytes32

    /// Wraps bytes already known to be a valid point (checked by the caller through ``KeyCache``).
    init(validated raw: Bytes32) {
        self.raw = raw
    }

    /// Reads a raw 32-byte Ed25519 public key.
    ///
    /// - Parameter bytes: exactly 32 bytes.
    /// - Throws: ``KeyError`` with code ``KeyError/Code/invalidKeyLength`` or ``KeyError/Code/invalidPoint``.
    public init(bytes: some Collection<UInt8>) throws(KeyError) {
        guard let raw = Bytes32(bytes) else {
            throw KeyError(.invalidKeyLength, "an Ed25519 public key is 32 bytes, got \(bytes.count)")
        }
        guard KeyCache.isValidPoint(raw) else {
            throw KeyError(.invalidPoint, "the 32 bytes are not a valid Ed25519 public key")
        }
        self.raw = raw
    }

    /// Reads a public key written as 64 hexadecimal digits (either case).
    ///
    /// - Throws: ``KeyError`` with code ``KeyError/Code/invalidHex``, ``KeyError/Code/invalidKeyLength``
    ///   or ``KeyError/Code/invalidPoint``.
    public init(hexString: String) throws(KeyError) {
        guard let bytes = Hex.decode(hexString) else {
            throw KeyError(.invalidHex, "a public key in hex is 64 characters 0-9a-f")
        }
        try self.init(bytes: bytes)
    }

    /// The 32 key bytes.
    public var bytes: [UInt8] { raw.bytes }

    /// The key as 64 lowercase hexadecimal digits.
    public var hexString: String { Hex.encode(raw.bytes) }

    /// Orders keys by their bytes, lexicographically.
    public static func < (lhs: PublicKey, rhs: PublicKey) -> Bool {
        Bytes32.lexicographicallyPrecedes(lhs.raw, rhs.raw)
    }
}

extension PublicKey: CustomStringConvertible, CustomDebugStringConvertible {
    /// The Textile key string (`bbaarei…`).
    public var description: String { textileString }
    /// `PublicKey(bbaarei…)`.
    public var debugDescription: String { "PublicKey(\(textileString))" }
}
