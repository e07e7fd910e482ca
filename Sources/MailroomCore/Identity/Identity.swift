/// A user's private identity: an Ed25519 key pair that signs envelopes and opens bodies sealed to its public key.
///
/// The secret key lives in storage that is zeroed when the last copy of the identity goes away. Two identities
/// compare equal in constant time. `description`, `debugDescription` and the mirror show the public key only.
/// To write the secret out on purpose, use ``exportTextileString()``.
public struct Identity: Sendable {
    /// Ed25519 secret key as libsodium keeps it: seed(32) || public key(32).
    let secretKey: SecureBytes
    /// The X25519 secret key derived from it, to open bodies.
    let curveSecretKey: SecureBytes
    /// The public half.
    public let publicKey: PublicKey

    /// Creates an identity with a fresh random seed.
    public static func generate() -> Identity {
        withUnsafeTemporaryAllocation(byteCount: SodiumSign.seedBytes, alignment: 16) { seed in
            SodiumRandom.fill(seed)
            defer { SodiumSign.zero(seed) }
            return Identity(seed: UnsafeRawBufferPointer(seed))
        }
    }

    /// Derives the identity for a 32-byte Ed25519 seed.
    ///
    /// - Throws: ``KeyError`` with code ``KeyError/Code/invalidKeyLength`` unless the seed has 32 bytes.
    public init(seed: some Collection<UInt8>) throws(KeyError) {
        guard seed.count == SodiumSign.seedBytes else {
            throw KeyError(.invalidKeyLength, "an Ed25519 seed is 32 bytes, got \(seed.count)")
        }
        self = withUnsafeTemporaryAllocation(byteCount: SodiumSign.seedBytes, alignment: 16) { buffer in
            _ = buffer.initializeMemory(as: UInt8.self, from: seed)
            defer { SodiumSign.zero(buffer) }
            return Identity(seed: UnsafeRawBufferPointer(buffer))
        }
    }

    init(seed: UnsafeRawBufferPointer) {
        var publicRaw = Bytes32()
        secretKey = SecureBytes(count: SodiumSign.secretKeyBytes) { secret in
            SodiumSign.keyPair(seed: seed, publicKey: &publicRaw, secretKey: secret)
        }
        curveSecretKey = SecureBytes(count: 32) { [secretKey] curve in
            secretKey.withUnsafeBytes { SodiumSign.curveSecretKey(for: $0, into: curve) }
        }
        // A key pair made by libsodium from a seed is always a valid point.
        publicKey = PublicKey(validated: publicRaw)
    }

    /// Signs `message`, writing the 64-byte signature at `signature`.
    func sign(_ message: UnsafeRawBufferPointer, into signature: UnsafeMutableRawPointer) {
        secretKey.withUnsafeBytes { SodiumSign.sign(message: message, secretKey: $0, signature: signature) }
    }
}

extension Identity: Equatable {
    /// Compares the secret keys in constant time.
    public static func == (lhs: Identity, rhs: Identity) -> Bool {
        lhs.secretKey.constantTimeEquals(rhs.secretKey)
    }
}

extension Identity: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `Identity(publicKey: bbaarei…, secretKey: redacted)`.
    public var description: String { "Identity(publicKey: \(publicKey), secretKey: redacted)" }
    /// Same as ``description``: the secret key is never printed.
    public var debugDescription: String { description }
    /// Shows only the public key.
    public var customMirror: Mirror { Mirror(self, children: ["publicKey": publicKey]) }
}
