import CSodium
import Foundation
import Testing

@testable import MailroomCore

/// The table-based signature check must give libsodium's verdict on every input it answers for. These tests
/// compare the two on valid signatures, on every kind of damage, and on the inputs where libsodium's extra checks
/// decide (S at or above L, an R of small order, keys with a small-order component).
@Suite("Precomputed-key signature checks agree with libsodium")
struct PrecomputedKeyTests {
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

        var key: Bytes32 { Bytes32(publicKey)! }

        func sign(_ message: [UInt8]) -> [UInt8] {
            var signature = [UInt8](repeating: 0, count: 64)
            _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
            return signature
        }
    }

    static func sodiumVerifies(_ signature: [UInt8], _ message: [UInt8], _ key: [UInt8]) -> Bool {
        crypto_sign_verify_detached(signature, message, UInt64(message.count), key) == 0
    }

    static func tableVerdict(_ table: PrecomputedKey, _ signature: [UInt8], _ message: [UInt8]) -> Bool? {
        signature.withUnsafeBytes { s in message.withUnsafeBytes { table.check(signature: s.baseAddress!, message: $0) }
        }
    }

    /// h = SHA-512(R || A || M) mod L.
    static func challenge(r: [UInt8], key: [UInt8], message: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 64)
        _ = crypto_hash_sha512(&digest, r + key + message, UInt64(64 + message.count))
        var h = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_reduce(&h, digest)
        return h
    }

    @Test("The base point's table encodes B, and L is the group order")
    func constants() {
        var one = [UInt8](repeating: 0, count: 32)
        one[0] = 1
        var b = [UInt8](repeating: 0, count: 32)
        #expect(crypto_scalarmult_ed25519_base_noclamp(&b, one) == 0)
        #expect(PrecomputedKey.base.publicKey.bytes == b)
        // L reduces to 0, L - 1 to itself.
        var wide = PrecomputedKey.groupOrder + [UInt8](repeating: 0, count: 32)
        var reduced = [UInt8](repeating: 0xff, count: 32)
        crypto_core_ed25519_scalar_reduce(&reduced, wide)
        #expect(reduced == [UInt8](repeating: 0, count: 32))
        wide[0] -= 1
        crypto_core_ed25519_scalar_reduce(&reduced, wide)
        #expect(reduced == Array(wide[0..<32]))
        #expect(
            PrecomputedKey.groupOrder.withUnsafeBytes { PrecomputedKey.isBelowGroupOrder($0.baseAddress!) } == false
        )
        #expect(Array(wide[0..<32]).withUnsafeBytes { PrecomputedKey.isBelowGroupOrder($0.baseAddress!) })
    }

    /// Keys in ``differential()``: 12, or `MAILROOM_SIGNATURE_DIFFERENTIAL_KEYS` for a long run (each key: 12
    /// messages, ~5 comparisons each). Its seed: `MAILROOM_SIGNATURE_DIFFERENTIAL_SEED`.
    static let differentialKeys =
        ProcessInfo.processInfo.environment["MAILROOM_SIGNATURE_DIFFERENTIAL_KEYS"]
        .flatMap(Int.init) ?? 12
    static let differentialSeed =
        ProcessInfo.processInfo.environment["MAILROOM_SIGNATURE_DIFFERENTIAL_SEED"]
        .flatMap(UInt64.init) ?? 0x6d61_696c_726f_6f6d

    @Test("Valid signatures and every kind of damage: the table's verdict is libsodium's")
    func differential() throws {
        var random = SplitMix64(seed: Self.differentialSeed)
        var compared = 0
        var accepted = 0
        for _ in 0..<Self.differentialKeys {
            let signer = Signer(seed: random.bytes(32))
            let table = try #require(PrecomputedKey(uncheckedKey: signer.key))
            for _ in 0..<12 {
                let message = random.bytes(Int.random(in: 0...300, using: &random))
                let signature = signer.sign(message)
                var cases: [([UInt8], [UInt8])] = [(signature, message)]
                // One flipped bit in R, in S (low bytes, so S mostly stays below L), in the message.
                var badR = signature
                badR[Int.random(in: 0..<32, using: &random)] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                cases.append((badR, message))
                var badS = signature
                badS[32 + Int.random(in: 0..<28, using: &random)] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                cases.append((badS, message))
                if !message.isEmpty {
                    var badMessage = message
                    badMessage[Int.random(in: 0..<message.count, using: &random)] ^= 0x10
                    cases.append((signature, badMessage))
                }
                // Another signer's signature over the same message.
                cases.append((Signer(seed: random.bytes(32)).sign(message), message))
                for (signature, message) in cases {
                    let expected = Self.sodiumVerifies(signature, message, signer.publicKey)
                    let verdict = try #require(Self.tableVerdict(table, signature, message) as Bool?)
                    #expect(verdict == expected)
                    compared += 1
                    if verdict { accepted += 1 }
                }
            }
        }
        #expect(compared >= Self.differentialKeys * 12 * 4)
        #expect(accepted == Self.differentialKeys * 12)  // exactly the untouched signatures
        print("precomputed-key differential: \(compared) comparisons with libsodium, \(accepted) accepted")
    }

    @Test("S at or above L is left to libsodium")
    func nonCanonicalS() throws {
        let signer = Signer(seed: [UInt8](repeating: 7, count: 32))
        let table = try #require(PrecomputedKey(uncheckedKey: signer.key))
        let message = Array("hello".utf8)
        var signature = signer.sign(message)
        // S + L: the same point, a non-canonical scalar.
        var carry = 0
        for index in 0..<32 {
            let sum = Int(signature[32 + index]) + Int(PrecomputedKey.groupOrder[index]) + carry
            signature[32 + index] = UInt8(sum & 0xff)
            carry = sum >> 8
        }
        #expect(Self.tableVerdict(table, signature, message) == nil)
        #expect(Self.sodiumVerifies(signature, message, signer.publicKey) == false)
        // Through the cache, the answer is libsodium's.
        let keys = PrecomputedKeys()
        let cached = signature.withUnsafeBytes { s in
            message.withUnsafeBytes { keys.verify(signature: s.baseAddress!, message: $0, publicKey: signer.key) }
        }
        #expect(cached == false)
    }

    @Test("An R of small order that matches [S]B - [h]A is refused, as libsodium refuses it")
    func smallOrderR() throws {
        let signer = Signer(seed: [UInt8](repeating: 9, count: 32))
        let table = try #require(PrecomputedKey(uncheckedKey: signer.key))
        // R = the identity's encoding; S = h a, so [S]B - [h]A = [ha]B - [h]aB = identity = R.
        var r = [UInt8](repeating: 0, count: 32)
        r[0] = 1
        let message = Array("small order".utf8)
        let h = Self.challenge(r: r, key: signer.publicKey, message: message)
        var s = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_mul(&s, h, signer.scalar)
        let signature = r + s
        #expect(Self.sodiumVerifies(signature, message, signer.publicKey) == false)
        #expect(Self.tableVerdict(table, signature, message) == false)
        // The same construction with an ordinary R (a real nonce) verifies both ways: the forgery check above is
        // not refusing everything built this way.
        var nonce = [UInt8](repeating: 3, count: 32)
        nonce[31] = 0
        var rPoint = [UInt8](repeating: 0, count: 32)
        #expect(crypto_scalarmult_ed25519_base_noclamp(&rPoint, nonce) == 0)
        let h2 = Self.challenge(r: rPoint, key: signer.publicKey, message: message)
        var s2 = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_mul(&s2, h2, signer.scalar)
        crypto_core_ed25519_scalar_add(&s2, s2, nonce)
        #expect(Self.sodiumVerifies(rPoint + s2, message, signer.publicKey))
        #expect(Self.tableVerdict(table, rPoint + s2, message) == true)
    }

    @Test("Keys with a small-order component: the verdicts still agree")
    func mixedOrderKeys() throws {
        // A' = aB + T with T = (0, -1) of order 2: [S]B - [h]A' = R - [h]T, which is R exactly when h is even.
        var t = [UInt8](repeating: 0xff, count: 32)
        t[0] = 0xec
        t[31] = 0x7f
        var random = SplitMix64(seed: 42)
        var agreedAccepting = 0
        var agreedRefusing = 0
        for _ in 0..<24 {
            let signer = Signer(seed: random.bytes(32))
            var key = [UInt8](repeating: 0, count: 32)
            #expect(crypto_core_ed25519_add(&key, signer.publicKey, t) == 0)
            let table = try #require(PrecomputedKey(uncheckedKey: Bytes32(key)!))
            let message = random.bytes(40)
            var nonce = random.bytes(32)
            nonce[31] &= 0x0f
            var rPoint = [UInt8](repeating: 0, count: 32)
            #expect(crypto_scalarmult_ed25519_base_noclamp(&rPoint, nonce) == 0)
            let h = Self.challenge(r: rPoint, key: key, message: message)
            var s = [UInt8](repeating: 0, count: 32)
            crypto_core_ed25519_scalar_mul(&s, h, signer.scalar)
            crypto_core_ed25519_scalar_add(&s, s, nonce)
            let expected = Self.sodiumVerifies(rPoint + s, message, key)
            #expect(Self.tableVerdict(table, rPoint + s, message) == expected)
            if expected { agreedAccepting += 1 } else { agreedRefusing += 1 }
        }
        #expect(agreedAccepting > 0 && agreedRefusing > 0)
    }

    @Test("Bytes that are not a point, or not canonical, get no table")
    func undecodableKeys() {
        // y = 2 is not on the curve; y = p (non-canonical 0) decodes only as the canonical 0.
        var notOnCurve = [UInt8](repeating: 0, count: 32)
        notOnCurve[0] = 2
        #expect(crypto_core_ed25519_is_valid_point(notOnCurve) == 0)
        #expect(PrecomputedKey(uncheckedKey: Bytes32(notOnCurve)!) == nil)
        var p = [UInt8](repeating: 0xff, count: 32)
        p[0] = 0xed
        p[31] = 0x7f
        #expect(PrecomputedKey(uncheckedKey: Bytes32(p)!) == nil)
    }

    @Test("More busy senders than tables: the tables stay where they are; an idle table gives its place up")
    func admission() {
        let keys = PrecomputedKeys()
        keys.limit = 2
        let signers = (0..<3).map { Signer(seed: [UInt8](repeating: UInt8(20 + $0), count: 32)) }
        func verify(_ signer: Signer, _ index: Int) -> Bool {
            let message = Array("message \(index)".utf8)
            let signature = signer.sign(message)
            return signature.withUnsafeBytes { s in
                message.withUnsafeBytes { keys.verify(signature: s.baseAddress!, message: $0, publicKey: signer.key) }
            }
        }
        // Round robin over three senders with room for two: the first two get tables, and no table is rebuilt.
        for round in 0..<8 {
            for signer in signers { #expect(verify(signer, round)) }
        }
        #expect(keys.statistics.tablesBuilt == 2)
        #expect(keys.statistics.tableChecks == 2 * 6)
        #expect(keys.statistics.sodiumChecks == 2 * 2 + 8)

        // The third sender keeps going while the first two are quiet for more than 16 x limit checks: it takes
        // an idle table's place.
        for index in 0..<40 { #expect(verify(signers[2], 100 + index)) }
        #expect(keys.statistics.tablesBuilt == 3)
        let fromTables = keys.statistics.tableChecks
        #expect(verify(signers[2], 200))
        #expect(keys.statistics.tableChecks == fromTables + 1)
    }

    @Test("Envelopes from a repeat sender are checked from its table, and a forgery by that sender is still refused")
    func envelopesThroughTables() throws {
        // A debug build's default is 0; the limit goes back afterwards (lowering it drops the tables).
        SignatureChecks.precomputedKeyLimit = 1024
        defer { SignatureChecks.precomputedKeyLimit = SignatureChecks.defaultPrecomputedKeyLimit }
        let sender = Identity.generate()
        let recipient = Identity.generate().publicKey
        let before = SignatureChecks.statistics
        var last: [UInt8] = []
        for index in 0..<6 {
            let envelope = try Envelope.seal(from: sender, to: recipient, body: Array("invite \(index)".utf8))
            last = envelope.serialized()
            #expect(try Envelope.verify(last).sender == sender.publicKey)
        }
        // Other tests share the process-wide counters, so only growth is certain: this sender's first two
        // envelopes go to libsodium and build its table, the other four are answered from it.
        let after = SignatureChecks.statistics
        #expect(after.fromTables - before.fromTables >= 4)
        #expect(after.tablesBuilt - before.tablesBuilt >= 1)
        #expect(after.switchedOff == false)
        // One flipped bit in S (low byte: S stays below L, so the table answers).
        last[last.count - 30] ^= 0x04
        #expect(envelopeError { try Envelope.verify(last) }?.code == .badSignature)
        #expect(SignatureChecks.statistics.fromTables - after.fromTables >= 1)
    }

    @Test("A key gets a table at its second accepted signature, and answers from it after")
    func cachePolicy() {
        let keys = PrecomputedKeys()
        keys.limit = 1024  // a debug build's default is 0
        let signer = Signer(seed: [UInt8](repeating: 5, count: 32))
        func verify(_ signature: [UInt8], _ message: [UInt8]) -> Bool {
            signature.withUnsafeBytes { s in
                message.withUnsafeBytes { keys.verify(signature: s.baseAddress!, message: $0, publicKey: signer.key) }
            }
        }
        let messages = (0..<6).map { Array("message \($0)".utf8) }
        #expect(verify(signer.sign(messages[0]), messages[0]))
        #expect(keys.statistics.tablesBuilt == 0)
        var forged = signer.sign(messages[1])
        forged[40] ^= 1
        #expect(!verify(forged, messages[1]))  // a refusal does not count towards a table
        #expect(keys.statistics.tablesBuilt == 0)
        #expect(verify(signer.sign(messages[1]), messages[1]))
        #expect(keys.statistics.tablesBuilt == 1)
        #expect(keys.statistics.sodiumChecks == 3)
        for message in messages[2...] { #expect(verify(signer.sign(message), message)) }
        #expect(!verify(forged, messages[1]))
        #expect(keys.statistics.tableChecks == 5)
        #expect(keys.statistics.switchedOff == false)

        // Limit 0: libsodium only.
        keys.limit = 0
        #expect(verify(signer.sign(messages[2]), messages[2]))
        #expect(verify(signer.sign(messages[3]), messages[3]))
        #expect(keys.statistics.tableChecks == 5)
        #expect(keys.statistics.tablesBuilt == 1)
    }
}
