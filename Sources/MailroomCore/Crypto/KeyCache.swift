/// Process-wide caches for the two expensive per-key operations: point validation and Ed25519→X25519 conversion.
///
/// Both cost about as much as a signature check, and the same few thousand keys recur on the hot path,
/// so each is cached in a ``BoundedCache``. Only successes are cached: an invalid key is rejected every time,
/// and a flood of invalid keys cannot evict the good ones.
enum KeyCache {
    static let capacity = 8192
    private static let validPoints = BoundedCache<Bytes32, Bool>(capacity: capacity)
    private static let curveKeys = BoundedCache<Bytes32, Bytes32>(capacity: capacity)

    /// Whether the 32 bytes are a valid Ed25519 public key (``SodiumSign/isValidPoint(_:)``), cached.
    static func isValidPoint(_ key: Bytes32) -> Bool {
        validPoints.value(for: key) { SodiumSign.isValidPoint($0) ? true : nil } ?? false
    }

    /// The X25519 public key for a (valid) Ed25519 public key, cached.
    static func curvePublicKey(for key: Bytes32) -> Bytes32? {
        curveKeys.value(for: key) { SodiumSign.curvePublicKey(for: $0) }
    }
}
