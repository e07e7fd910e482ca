import CSodium
import Foundation
import MailroomTestSupport
import Testing

@testable import MailroomCore

/// Textile's scheme written directly against libsodium, independently of Mailroom's wrappers:
/// X25519 secret = SHA-512(seed)[0..<32]; nonce(24) || ephemeral public(32) || crypto_box output.
enum IndependentTextile {
    static func open(_ sealed: [UInt8], seed: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 72 else { return nil }
        var digest = [UInt8](repeating: 0, count: 64)
        _ = crypto_hash_sha512(&digest, seed, UInt64(seed.count))
        let secret = Array(digest[0..<32])
        let nonce = Array(sealed[0..<24])
        let ephemeral = Array(sealed[24..<56])
        let boxed = Array(sealed[56...])
        var out = [UInt8](repeating: 0, count: boxed.count - 16)
        let rc = crypto_box_open_easy(&out, boxed, UInt64(boxed.count), nonce, ephemeral, secret)
        return rc == 0 ? out : nil
    }

    /// Seed of a Textile private key string (first 32 bytes of the key data).
    static func seed(ofPrivateKeyString string: String) throws -> [UInt8] {
        let message = try Multibase.decodeBase32(string)
        return Array(message[4..<36])
    }
}

@Suite("Textile-compatible body encryption")
struct TextileBoxTests {
    @Test("Mailroom opens the ciphertext from Textile's own test")
    func opensTextileVector() throws {
        let vector = try textileVector()
        let identity = try Identity(textileString: vector.private_key_string)
        let plain = try TextileBox.open(unhex(vector.ciphertext_hex), with: identity)
        #expect(String(decoding: plain, as: UTF8.self) == vector.plaintext_utf8)
        #expect(String(decoding: plain, as: UTF8.self) == "Hello World!!!")
    }

    @Test("What Mailroom seals opens with an independent implementation of Textile's scheme")
    func independentOpen() throws {
        let vector = try textileVector()
        let identity = try Identity(textileString: vector.private_key_string)
        let seed = try IndependentTextile.seed(ofPrivateKeyString: vector.private_key_string)
        var rng = SplitMix64(seed: 3)
        for length in [0, 1, 14, 255, 256, 4096] {
            let body = rng.bytes(length)
            let sealed = TextileBox.seal(body, to: identity.publicKey)
            #expect(sealed.count == length + 72)
            #expect(IndependentTextile.open(sealed, seed: seed) == body)
            #expect(try TextileBox.open(sealed, with: identity) == body)
        }
        // Each copy of an envelope is in the same layout.
        let envelope = try Envelope.seal(from: TestKeys.alice, to: identity.publicKey, body: Array("hi".utf8))
        #expect(IndependentTextile.open(envelope.recipientCiphertext, seed: seed) == Array("hi".utf8))
        let aliceSeed = (0..<32).map { UInt8($0) }
        #expect(IndependentTextile.open(envelope.senderCiphertext, seed: aliceSeed) == Array("hi".utf8))
    }

    @Test("Fresh nonce and ephemeral key per message; wrong key and tampering fail to open")
    func failures() throws {
        let body = Array("same body".utf8)
        let a = TextileBox.seal(body, to: TestKeys.bob.publicKey)
        let b = TextileBox.seal(body, to: TestKeys.bob.publicKey)
        #expect(a[0..<24] != b[0..<24])
        #expect(a[24..<56] != b[24..<56])
        let wrongKey = envelopeError { () throws(EnvelopeError) in try TextileBox.open(a, with: TestKeys.carol) }
        #expect(wrongKey?.code == .decryptionFailed)
        var tampered = a
        tampered[tampered.count - 1] ^= 1
        let corrupted = envelopeError { () throws(EnvelopeError) in try TextileBox.open(tampered, with: TestKeys.bob) }
        #expect(corrupted?.code == .decryptionFailed)
        let short = Array(a[0..<71])
        let tooShort = envelopeError { () throws(EnvelopeError) in try TextileBox.open(short, with: TestKeys.bob) }
        #expect(tooShort?.code == .invalidCiphertextLength)
    }
}
