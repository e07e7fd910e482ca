internal import CSodium

/// Textile's body encryption, byte for byte: NaCl `crypto_box` (X25519, XSalsa20-Poly1305) from a fresh ephemeral
/// key pair to the recipient's X25519 key, laid out as nonce(24) || ephemeral public key(32) || tag(16) || ciphertext.
enum SodiumBox {
    static let nonceBytes = 24
    static let publicKeyBytes = 32
    static let macBytes = 16
    /// Bytes a sealed body adds to the plaintext: 24 + 32 + 16 = 72.
    static let overhead = nonceBytes + publicKeyBytes + macBytes

    /// Seals `body` to `recipient` (an X25519 public key) into `out`, which must hold exactly `body.count + overhead`.
    ///
    /// - Parameter deterministicSeed: for test vectors only: 56 bytes that replace the random nonce (24) and
    ///   the ephemeral key seed (32). Production passes nil and gets `randombytes_buf` and `crypto_box_keypair`.
    static func seal(
        _ body: UnsafeRawBufferPointer,
        to recipient: Bytes32,
        into out: UnsafeMutableRawBufferPointer,
        deterministicSeed: UnsafeRawBufferPointer? = nil
    ) {
        precondition(out.count == body.count + overhead)
        Sodium.ensureInitialized()
        let nonce = out.u8
        let ephemeralPublic = out.u8 + nonceBytes
        let boxed = out.u8 + nonceBytes + publicKeyBytes
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { ephemeralSecret in
            if let seed = deterministicSeed {
                precondition(seed.count == nonceBytes + 32)
                UnsafeMutableRawPointer(nonce).copyMemory(from: seed.baseAddress!, byteCount: nonceBytes)
                _ = crypto_box_seed_keypair(ephemeralPublic, ephemeralSecret.u8, seed.u8 + nonceBytes)
            } else {
                randombytes_buf(nonce, nonceBytes)
                _ = crypto_box_keypair(ephemeralPublic, ephemeralSecret.u8)
            }
            withUnsafeBytes(of: recipient) { pk in
                _ = crypto_box_easy(boxed, body.u8, UInt64(body.count), nonce, pk.u8, ephemeralSecret.u8)
            }
            sodium_memzero(ephemeralSecret.baseAddress!, 32)
        }
    }

    /// Opens a Textile-layout sealed body with an X25519 secret key (32 bytes) into `out`
    /// (exactly `sealed.count - overhead` bytes). Returns false if the tag does not verify.
    static func open(
        _ sealed: UnsafeRawBufferPointer,
        curveSecretKey: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) -> Bool {
        precondition(sealed.count >= overhead && out.count == sealed.count - overhead && curveSecretKey.count == 32)
        Sodium.ensureInitialized()
        let nonce = sealed.u8
        let ephemeralPublic = sealed.u8 + nonceBytes
        let boxed = sealed.u8 + nonceBytes + publicKeyBytes
        let boxedCount = sealed.count - nonceBytes - publicKeyBytes
        return crypto_box_open_easy(out.u8, boxed, UInt64(boxedCount), nonce, ephemeralPublic, curveSecretKey.u8) == 0
    }
}
