/// Body encryption byte-compatible with Textile Hub's: NaCl `crypto_box` from a fresh ephemeral X25519 key pair
/// to the recipient's Ed25519 key converted to X25519, with a random nonce; layout
/// nonce(24) || ephemeral public key(32) || tag(16) || ciphertext.
///
/// Envelopes use it for both copies of a body; it is public for reading and writing Textile-era data directly.
public enum TextileBox {
    /// Bytes a sealed body adds to its plaintext (72).
    public static let overhead = SodiumBox.overhead

    /// Seals `body` to `recipient`. Nothing authenticates the sender; envelopes add a signature for that.
    public static func seal(_ body: [UInt8], to recipient: PublicKey) -> [UInt8] {
        // A PublicKey is a validated point, so the conversion succeeds.
        let curve = KeyCache.curvePublicKey(for: recipient.raw)!
        return [UInt8](unsafeUninitializedCapacity: body.count + overhead) { buffer, initialized in
            body.withUnsafeBytes { SodiumBox.seal($0, to: curve, into: UnsafeMutableRawBufferPointer(buffer)) }
            initialized = body.count + overhead
        }
    }

    /// Opens a body sealed to `identity`'s public key.
    ///
    /// - Throws: ``EnvelopeError`` with code ``EnvelopeError/Code/invalidCiphertextLength`` if shorter than
    ///   ``overhead``, or ``EnvelopeError/Code/decryptionFailed`` if it does not open with this key.
    public static func open(_ sealed: [UInt8], with identity: Identity) throws(EnvelopeError) -> [UInt8] {
        try sealed.withUnsafeBytes { openResult($0, with: identity) }.get()
    }

    static func openResult(_ sealed: UnsafeRawBufferPointer, with identity: Identity) -> Result<[UInt8], EnvelopeError>
    {
        guard sealed.count >= overhead else {
            return .failure(
                EnvelopeError(
                    .invalidCiphertextLength,
                    "a sealed body is at least \(overhead) bytes, got \(sealed.count)"
                )
            )
        }
        var opened = false
        var plain = [UInt8](unsafeUninitializedCapacity: sealed.count - overhead) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            opened = identity.curveSecretKey.withUnsafeBytes {
                SodiumBox.open(sealed, curveSecretKey: $0, into: out)
            }
            initialized = buffer.count
        }
        guard opened else {
            plain.withUnsafeMutableBytes { SodiumSign.zero($0) }
            return .failure(EnvelopeError(.decryptionFailed, "the body does not open with this identity's key"))
        }
        return .success(plain)
    }
}
