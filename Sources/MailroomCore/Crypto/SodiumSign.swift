internal import CSodium

/// Ed25519 through libsodium: key pairs from seeds, detached signatures, point validation, conversion to X25519.
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

    /// Verifies a detached signature (64 bytes at `signature`) over `message` with the public key.
    static func verify(signature: UnsafeRawPointer, message: UnsafeRawBufferPointer, publicKey: Bytes32) -> Bool {
        withUnsafeBytes(of: publicKey) { pk in
            crypto_sign_verify_detached(signature.u8, message.u8, UInt64(message.count), pk.u8) == 0
        }
    }

    /// Ed25519's challenge h = SHA-512(R || A || M) mod L for a signature's R (32 bytes at `r`), as
    /// `crypto_sign_verify_detached` computes it.
    static func challenge(r: UnsafeRawPointer, publicKey: Bytes32, message: UnsafeRawBufferPointer) -> Bytes32 {
        var digest = (Bytes32(), Bytes32())
        var h = Bytes32()
        withUnsafeMutableBytes(of: &digest) { digest in
            var state = crypto_hash_sha512_state()
            crypto_hash_sha512_init(&state)
            crypto_hash_sha512_update(&state, r.u8, 32)
            withUnsafeBytes(of: publicKey) { _ = crypto_hash_sha512_update(&state, $0.u8, 32) }
            crypto_hash_sha512_update(&state, message.u8, UInt64(message.count))
            crypto_hash_sha512_final(&state, digest.u8)
            withUnsafeMutableBytes(of: &h) { crypto_core_ed25519_scalar_reduce($0.u8, digest.u8) }
        }
        return h
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
