internal import CSodium

/// The bare libsodium work behind each Mailroom operation, for `mailroom-bench crypto` to measure as a ceiling.
///
/// One instance per thread
/// (it owns its buffers and is not thread-safe).
final class RawSodiumCeiling {
    private let body: [UInt8]
    private var boxOut: [UInt8]
    private var openOut: [UInt8]
    private var message = [UInt8](repeating: 0x5a, count: EnvelopeV1Layout.signedMessageBytes)
    private var signature = [UInt8](repeating: 0, count: 64)
    private var ephemeralPublic = [UInt8](repeating: 0, count: 32)
    private var ephemeralSecret = [UInt8](repeating: 0, count: 32)
    private var nonce = [UInt8](repeating: 0, count: 24)
    private var signPublic = [UInt8](repeating: 0, count: 32)
    private var signSecret = [UInt8](repeating: 0, count: 64)
    private var recipientCurvePublic = [UInt8](repeating: 0, count: 32)
    private var recipientCurveSecret = [UInt8](repeating: 0, count: 32)
    private var sealed: [UInt8]

    /// Prepares fixed keys, a signed message of the envelope's signed-message length, and one sealed body.
    /// - Parameter bodyCount: the plaintext size in bytes.
    init(bodyCount: Int) {
        _ = sodium_init()
        body = [UInt8](repeating: 0x61, count: bodyCount)
        boxOut = [UInt8](repeating: 0, count: bodyCount + 16)
        openOut = [UInt8](repeating: 0, count: bodyCount)
        sealed = [UInt8](repeating: 0, count: bodyCount + 16)
        _ = crypto_sign_keypair(&signPublic, &signSecret)
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), signSecret)
        _ = crypto_box_keypair(&recipientCurvePublic, &recipientCurveSecret)
        randombytes_buf(&nonce, 24)
        _ = crypto_box_keypair(&ephemeralPublic, &ephemeralSecret)
        _ = crypto_box_easy(&sealed, body, UInt64(body.count), nonce, recipientCurvePublic, ephemeralSecret)
    }

    /// What sealing one envelope needs, bare: for each of the two copies a random nonce, a fresh
    /// `crypto_box_keypair` and `crypto_box_easy`; then one `crypto_sign_detached`.
    func sealOnce() {
        for _ in 0..<2 {
            randombytes_buf(&nonce, 24)
            _ = crypto_box_keypair(&ephemeralPublic, &ephemeralSecret)
            _ = crypto_box_easy(&boxOut, body, UInt64(body.count), nonce, recipientCurvePublic, ephemeralSecret)
        }
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), signSecret)
    }

    /// One `crypto_sign_verify_detached` over a message of the envelope's signed-message length.
    @discardableResult
    func verifyOnce() -> Bool {
        crypto_sign_verify_detached(signature, message, UInt64(message.count), signPublic) == 0
    }

    /// One `crypto_box_open_easy` of a sealed body.
    @discardableResult
    func openOnce() -> Bool {
        crypto_box_open_easy(
            &openOut,
            sealed,
            UInt64(sealed.count),
            nonce,
            ephemeralPublic,
            recipientCurveSecret
        ) == 0
    }
}
