import CSodium
import Foundation
import Logging
import MailroomTestSupport

@testable import MailroomEd25519

func hexBytes(_ text: String) -> [UInt8] { SelfTest.hexBytes(text) }

/// A key pair from a seed, with libsodium's signatures.
struct Signer {
    var publicKey = [UInt8](repeating: 0, count: 32)
    var secretKey = [UInt8](repeating: 0, count: 64)
    /// The secret scalar a (A = aB), as libsodium derives it from the seed.
    var scalar = [UInt8](repeating: 0, count: 32)

    init(seed: [UInt8]) {
        _ = crypto_sign_seed_keypair(&publicKey, &secretKey, seed)
        var clamped = [UInt8](repeating: 0, count: 32)
        _ = crypto_sign_ed25519_sk_to_curve25519(&clamped, secretKey)
        crypto_core_ed25519_scalar_reduce(&scalar, clamped + [UInt8](repeating: 0, count: 32))
    }

    var key: Encoded32 { Encoded32(publicKey)! }

    func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
        return signature
    }
}

func sodiumVerifies(_ signature: [UInt8], _ message: [UInt8], _ key: [UInt8]) -> Bool {
    crypto_sign_verify_detached(signature, message, UInt64(message.count), key) == 0
}

func tableVerdict(_ table: PrecomputedKey, _ signature: [UInt8], _ message: [UInt8]) -> Bool? {
    signature.withUnsafeBytes { s in message.withUnsafeBytes { table.check(signature: s.baseAddress!, message: $0) } }
}

/// libsodium 1.0.18's checks of a key before the equation (crypto_sign/ed25519/ref10/open.c): canonical
/// (`ge25519_is_canonical`: y below p) and not one of the small-order encodings (`ge25519_has_small_order`, the sign
/// bit ignored). Only a key that passes them can have a signature accepted, so only such a key ever gets a table.
func passesLibsodiumKeyChecks(_ key: [UInt8]) -> Bool {
    guard key.count == 32 else { return false }
    var y = key
    y[31] &= 0x7f
    let canonical = !(y[31] == 0x7f && y[1..<31].allSatisfy { $0 == 0xff } && y[0] >= 0xed)
    let smallOrder: [[UInt8]] = [
        [UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31),
        hexBytes("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        hexBytes("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        [0xec] + [UInt8](repeating: 0xff, count: 30) + [0x7f], [0xed] + [UInt8](repeating: 0xff, count: 30) + [0x7f],
        [0xee] + [UInt8](repeating: 0xff, count: 30) + [0x7f],
    ]
    return canonical && !smallOrder.contains(y)
}

/// h = SHA-512(R || A || M) mod L.
func challenge(r: [UInt8], key: [UInt8], message: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 64)
    _ = crypto_hash_sha512(&digest, r + key + message, UInt64(64 + message.count))
    var h = [UInt8](repeating: 0, count: 32)
    crypto_core_ed25519_scalar_reduce(&h, digest)
    return h
}

/// A verifier with tables for tests (a debug build's default is none), quiet unless something goes wrong.
func tableVerifier(
    limit: Int = 1024,
    recheckSampleRate: Double = 0,
    override: (@Sendable (Bool?) -> Bool?)? = nil
) -> Ed25519Verifier {
    var logger = Logger(label: "test.ed25519")
    logger.logLevel = .error
    return Ed25519Verifier(
        configuration: .init(precomputedKeyLimit: limit, recheckSampleRate: recheckSampleRate),
        logger: logger,
        tableVerdictOverride: override
    )
}

extension Ed25519Verifier {
    func verify(_ signer: Signer, _ signature: [UInt8], _ message: [UInt8]) -> Bool {
        verify(signature: signature, message: message, publicKey: signer.publicKey)
    }
}
