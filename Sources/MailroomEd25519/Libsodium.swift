internal import CSodium

/// Every libsodium call the module makes: the verdicts the tables must match, the challenge hash they share with
/// it, and the keys and signatures of the self-test.
enum Libsodium {
    private static let initialized: Bool = sodium_init() >= 0

    /// Makes sure `sodium_init()` ran; traps only if libsodium itself cannot start (no entropy source).
    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise")
    }

    /// `crypto_sign_verify_detached`: a detached signature (64 bytes at `signature`) over `message` by the key
    /// (32 bytes at `publicKey`).
    static func verify(
        signature: UnsafeRawPointer,
        message: UnsafeRawBufferPointer,
        publicKey: UnsafeRawPointer
    ) -> Bool {
        crypto_sign_verify_detached(
            signature.bytePointer,
            message.bytePointer,
            UInt64(message.count),
            publicKey.bytePointer
        ) == 0
    }

    /// Ed25519's challenge h = SHA-512(R || A || M) mod L for a signature's R (32 bytes at `r`), as
    /// `crypto_sign_verify_detached` computes it.
    static func challenge(r: UnsafeRawPointer, publicKey: Encoded32, message: UnsafeRawBufferPointer) -> Encoded32 {
        var digest = (Encoded32(), Encoded32())
        var h = Encoded32()
        withUnsafeMutableBytes(of: &digest) { digest in
            var state = crypto_hash_sha512_state()
            crypto_hash_sha512_init(&state)
            crypto_hash_sha512_update(&state, r.bytePointer, 32)
            withUnsafeBytes(of: publicKey) { _ = crypto_hash_sha512_update(&state, $0.bytePointer, 32) }
            crypto_hash_sha512_update(&state, message.bytePointer, UInt64(message.count))
            crypto_hash_sha512_final(&state, digest.bytePointer)
            withUnsafeMutableBytes(of: &h) { crypto_core_ed25519_scalar_reduce($0.bytePointer, digest.bytePointer) }
        }
        return h
    }

    /// Constant-time comparison of two 32-byte values.
    static func equal32(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Bool {
        sodium_memcmp(a, b, 32) == 0
    }

    /// The key pair for a 32-byte seed (the self-test's signers): the public key, and seed || public key.
    static func keyPair(seed: [UInt8]) -> (publicKey: [UInt8], secretKey: [UInt8]) {
        precondition(seed.count == 32)
        ensureInitialized()
        var publicKey = [UInt8](repeating: 0, count: 32)
        var secretKey = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_seed_keypair(&publicKey, &secretKey, seed)
        return (publicKey, secretKey)
    }

    /// A detached signature over `message` by a 64-byte secret key.
    static func sign(_ message: [UInt8], secretKey: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
        return signature
    }

    /// The secret scalar a (A = aB) of a 64-byte secret key, reduced mod L.
    static func secretScalar(secretKey: [UInt8]) -> [UInt8] {
        var clamped = [UInt8](repeating: 0, count: 32)
        _ = crypto_sign_ed25519_sk_to_curve25519(&clamped, secretKey)
        var scalar = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_reduce(&scalar, clamped + [UInt8](repeating: 0, count: 32))
        return scalar
    }

    /// a b mod L.
    static func scalarProduct(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var product = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_mul(&product, a, b)
        return product
    }
}

extension UnsafeRawPointer {
    /// libsodium takes `unsigned char *`.
    @inline(__always) fileprivate var bytePointer: UnsafePointer<UInt8> { assumingMemoryBound(to: UInt8.self) }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always) fileprivate var bytePointer: UnsafeMutablePointer<UInt8> {
        (baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!).assumingMemoryBound(to: UInt8.self)
    }
}

extension UnsafeRawBufferPointer {
    /// The base address, or a valid dangling pointer for an empty buffer (libsodium reads nothing at length 0).
    @inline(__always) fileprivate var bytePointer: UnsafePointer<UInt8> {
        (baseAddress ?? UnsafeRawPointer(bitPattern: 1)!).assumingMemoryBound(to: UInt8.self)
    }
}
