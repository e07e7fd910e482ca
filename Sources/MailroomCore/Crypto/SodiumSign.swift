internal import CSodium

/// Ed25519 through libsodium: key pairs from seeds, detached signatures, point validation, conversion to X25519.
/// Signatures are checked in MailroomEd25519 (``Ed25519Verifier``), the one place Mailroom checks one.
enum SodiumSign {
    static let seedBytes = 32
    static let publicKeyBytes = 32
    static let secretKeyBytes = 64
    static let signatureBytes = 64

    /// Derives the key pair for a 32-byte seed. `secretKey` receives seed || public key (64 bytes).
    static func keyPair(
        seed: UnsafeRawBufferPointer,
        publicKey: inout Bytes32,
        secretKey: UnsafeMutableRawBufferPointer
    ) {
        precondition(seed.count == seedBytes && secretKey.count == secretKeyBytes)
        Sodium.ensureInitialized()
        withUnsafeMutableBytes(of: &publicKey) { pk in
            _ = crypto_sign_seed_keypair(pk.u8, secretKey.u8, seed.u8)
        }
    }

    /// Signs `message` with a 64-byte Ed25519 secret key, writing 64 bytes at `signature`.
    static func sign(
        message: UnsafeRawBufferPointer,
        secretKey: UnsafeRawBufferPointer,
        signature: UnsafeMutableRawPointer
    ) {
        precondition(secretKey.count == secretKeyBytes)
        _ = crypto_sign_detached(signature.u8, nil, message.u8, UInt64(message.count), secretKey.u8)
    }

    /// `crypto_core_ed25519_is_valid_point`: on the curve, in the main subgroup, not of small order, canonical.
    /// Expensive (a scalar multiplication); callers go through ``KeyCache``.
    static func isValidPoint(_ publicKey: Bytes32) -> Bool {
        Sodium.ensureInitialized()
        return withUnsafeBytes(of: publicKey) { crypto_core_ed25519_is_valid_point($0.u8) == 1 }
    }

    /// The X25519 public key for an Ed25519 public key, or nil if the point does not convert.
    /// As expensive as a signature check; callers go through ``KeyCache``.
    static func curvePublicKey(for publicKey: Bytes32) -> Bytes32? {
        Sodium.ensureInitialized()
        var curve = Bytes32()
        let rc = withUnsafeMutableBytes(of: &curve) { out in
            withUnsafeBytes(of: publicKey) { crypto_sign_ed25519_pk_to_curve25519(out.u8, $0.u8) }
        }
        return rc == 0 ? curve : nil
    }

    /// The X25519 secret key for a 64-byte Ed25519 secret key (SHA-512(seed)[0..<32], clamped), into 32 bytes.
    static func curveSecretKey(for secretKey: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(secretKey.count == secretKeyBytes && out.count == 32)
        _ = crypto_sign_ed25519_sk_to_curve25519(out.u8, secretKey.u8)
    }

    /// Constant-time comparison of two equal-length buffers.
    static func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        return sodium_memcmp(a.u8, b.u8, a.count) == 0
    }

    /// Zeroes a buffer in a way the optimiser does not remove.
    static func zero(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count > 0 else { return }
        sodium_memzero(buffer.baseAddress!, buffer.count)
    }
}
