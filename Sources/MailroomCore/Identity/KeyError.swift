/// A key, key string or hex string that could not be read.
///
/// The ``description`` says what is wrong (prefix, alphabet, length, key type, mismatched public half, invalid point)
/// and never contains key material.
public struct KeyError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable snake_case ``reason`` string. Extensible: new codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The stable snake_case reason string.
        public let reason: String
        private init(_ reason: String) { self.reason = reason }

        /// A multibase string that does not start with `b` (base32, lowercase, no padding), or is empty.
        public static let invalidMultibasePrefix = Code("invalid_multibase_prefix")
        /// A character outside the RFC 4648 lowercase base32 alphabet, an impossible length, or non-zero padding bits.
        public static let invalidBase32 = Code("invalid_base32")
        /// A hex string with an odd length or a non-hex character.
        public static let invalidHex = Code("invalid_hex")
        /// The libp2p protobuf framing (`08 <type> 12 <varint len> <data>`) is malformed.
        public static let invalidProtobuf = Code("invalid_protobuf")
        /// The libp2p key type is not Ed25519 (1).
        public static let unsupportedKeyType = Code("unsupported_key_type")
        /// The key data has the wrong length (public: 32; private: 64, or legacy 96; seed: 32).
        public static let invalidKeyLength = Code("invalid_key_length")
        /// A private key whose embedded public half does not match the public key derived from its seed.
        public static let mismatchedPublicKey = Code("mismatched_public_key")
        /// 32 bytes that are not a valid Ed25519 public key (not on the curve, small order, or non-canonical).
        public static let invalidPoint = Code("invalid_point")

        /// The reason string.
        public var description: String { reason }
    }

    /// What went wrong.
    public let code: Code
    /// A human-readable explanation without key material.
    public let detail: String
    /// Where the error was raised.
    public let file: String
    /// Where the error was raised.
    public let line: Int

    init(_ code: Code, _ detail: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.detail = detail
        self.file = file
        self.line = line
    }

    /// The stable snake_case reason string, e.g. `invalid_base32`.
    public var reason: String { code.reason }

    /// `KeyError(reason: …, detail: …)`; never contains key material.
    public var description: String { "KeyError(reason: \(code.reason), detail: \(detail))" }
}
