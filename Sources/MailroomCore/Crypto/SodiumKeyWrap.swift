internal import CSodium

/// The primitives of batch envelopes' shared body (docs/ENVELOPE.md, "Batch envelopes (format v2)"): a content
/// key encrypted once with XChaCha20-Poly1305 (`crypto_aead_xchacha20poly1305_ietf_*`), and that key wrapped to
/// each recipient with `crypto_box_beforenm` + `crypto_box_easy_afternm` from one ephemeral X25519 key per batch.
enum SodiumKeyWrap {
    static let contentKeyBytes = 32
    static let aeadNonceBytes = 24
    static let aeadTagBytes = 16
    /// Bytes the encrypted payload adds to the body: nonce(24) + tag(16).
    static let payloadOverhead = aeadNonceBytes + aeadTagBytes
    static let boxNonceBytes = 24
    /// A wrapped content key: tag(16) || encrypted key(32).
    static let wrappedKeyBytes = 16 + contentKeyBytes
    static let sharedKeyBytes = 32

    /// Makes an X25519 key pair, from a 32-byte seed when one is given (test vectors only), else at random.
    static func keyPair(
        publicKey: inout Bytes32,
        secretKey: UnsafeMutableRawBufferPointer,
        seed: UnsafeRawBufferPointer? = nil
    ) {
        precondition(secretKey.count == 32)
        Sodium.ensureInitialized()
        withUnsafeMutableBytes(of: &publicKey) { pk in
            if let seed {
                precondition(seed.count == 32)
                _ = crypto_box_seed_keypair(pk.u8, secretKey.u8, seed.u8)
            } else {
                _ = crypto_box_keypair(pk.u8, secretKey.u8)
            }
        }
    }

    /// `crypto_box_beforenm`: the shared key of an X25519 public key and a secret key, into 32 bytes.
    /// Returns false when libsodium refuses the pair (a small-order public key).
    static func sharedKey(
        publicKey: Bytes32,
        secretKey: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) -> Bool {
        precondition(secretKey.count == 32 && out.count == sharedKeyBytes)
        Sodium.ensureInitialized()
        return withUnsafeBytes(of: publicKey) { crypto_box_beforenm(out.u8, $0.u8, secretKey.u8) } == 0
    }

    /// `crypto_box_easy_afternm` of the 32-byte content key into 48 bytes.
    static func wrap(
        contentKey: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        sharedKey: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) {
        precondition(contentKey.count == contentKeyBytes && nonce.count == boxNonceBytes)
        precondition(sharedKey.count == sharedKeyBytes && out.count == wrappedKeyBytes)
        _ = crypto_box_easy_afternm(out.u8, contentKey.u8, UInt64(contentKeyBytes), nonce.u8, sharedKey.u8)
    }

    /// `crypto_box_open_easy_afternm` of a 48-byte wrapped key into 32 bytes; false if the tag does not verify.
    static func unwrap(
        _ wrapped: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        sharedKey: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) -> Bool {
        precondition(wrapped.count == wrappedKeyBytes && nonce.count == boxNonceBytes)
        precondition(sharedKey.count == sharedKeyBytes && out.count == contentKeyBytes)
        return crypto_box_open_easy_afternm(out.u8, wrapped.u8, UInt64(wrapped.count), nonce.u8, sharedKey.u8) == 0
    }

    /// Encrypts `body` under `key`: nonce(24) || ciphertext || tag(16) into `out` (`body.count + 40` bytes).
    static func encrypt(
        _ body: UnsafeRawBufferPointer,
        additionalData: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        key: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) {
        precondition(out.count == body.count + payloadOverhead && nonce.count == aeadNonceBytes)
        precondition(key.count == contentKeyBytes)
        Sodium.ensureInitialized()
        UnsafeMutableRawPointer(out.u8).copyMemory(from: nonce.u8, byteCount: aeadNonceBytes)
        var written: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            out.u8 + aeadNonceBytes,
            &written,
            body.u8,
            UInt64(body.count),
            additionalData.u8,
            UInt64(additionalData.count),
            nil,
            nonce.u8,
            key.u8
        )
    }

    /// Decrypts a payload (nonce || ciphertext || tag) into `out` (`payload.count - 40` bytes); false if the tag
    /// does not verify.
    static func decrypt(
        _ payload: UnsafeRawBufferPointer,
        additionalData: UnsafeRawBufferPointer,
        key: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) -> Bool {
        precondition(payload.count >= payloadOverhead && out.count == payload.count - payloadOverhead)
        precondition(key.count == contentKeyBytes)
        Sodium.ensureInitialized()
        var written: UInt64 = 0
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            out.u8,
            &written,
            nil,
            payload.u8 + aeadNonceBytes,
            UInt64(payload.count - aeadNonceBytes),
            additionalData.u8,
            UInt64(additionalData.count),
            payload.u8,
            key.u8
        ) == 0
    }
}
