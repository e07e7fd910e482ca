import CSodium
import Foundation
import MailroomTestSupport
import Testing

@testable import MailroomEd25519

/// The table-based signature check must give libsodium's verdict on every input it answers for. These tests
/// compare the two on valid signatures, on every kind of damage, and on the inputs where libsodium's extra checks
/// decide (S at or above L, an R of small order, keys with a small-order component).
@Suite("Precomputed-key signature checks agree with libsodium")
struct PrecomputedKeyTests {
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

    /// Keys in ``differential()``: a quick run in the debug build; the release-mode run of a million checks is
    /// `ed25519-differential` (scripts/test).
    static let differentialKeys = 12
    static let differentialSeed: UInt64 = 0x6d61_696c_726f_6f6d

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
                    let expected = sodiumVerifies(signature, message, signer.publicKey)
                    let verdict = try #require(tableVerdict(table, signature, message) as Bool?)
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
        #expect(tableVerdict(table, signature, message) == nil)
        #expect(sodiumVerifies(signature, message, signer.publicKey) == false)
        // Through a verifier whose table for the key is built, the answer is libsodium's.
        let verifier = tableVerifier()
        for text in ["one", "two", "three"] {
            #expect(verifier.verify(signer, signer.sign(Array(text.utf8)), Array(text.utf8)))
        }
        #expect(verifier.statistics.tablesBuilt == 1)
        #expect(verifier.verify(signer, signature, message) == false)
        #expect(verifier.statistics.disagreements == 0)
    }

    @Test("An R of small order that matches [S]B - [h]A is refused, as libsodium refuses it")
    func smallOrderR() throws {
        let signer = Signer(seed: [UInt8](repeating: 9, count: 32))
        let table = try #require(PrecomputedKey(uncheckedKey: signer.key))
        // R = the identity's encoding; S = h a, so [S]B - [h]A = [ha]B - [h]aB = identity = R.
        var r = [UInt8](repeating: 0, count: 32)
        r[0] = 1
        let message = Array("small order".utf8)
        let h = challenge(r: r, key: signer.publicKey, message: message)
        var s = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_mul(&s, h, signer.scalar)
        let signature = r + s
        #expect(sodiumVerifies(signature, message, signer.publicKey) == false)
        #expect(tableVerdict(table, signature, message) == false)
        // The same construction with an ordinary R (a real nonce) verifies both ways: the forgery check above is
        // not refusing everything built this way.
        var nonce = [UInt8](repeating: 3, count: 32)
        nonce[31] = 0
        var rPoint = [UInt8](repeating: 0, count: 32)
        #expect(crypto_scalarmult_ed25519_base_noclamp(&rPoint, nonce) == 0)
        let h2 = challenge(r: rPoint, key: signer.publicKey, message: message)
        var s2 = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_mul(&s2, h2, signer.scalar)
        crypto_core_ed25519_scalar_add(&s2, s2, nonce)
        #expect(sodiumVerifies(rPoint + s2, message, signer.publicKey))
        #expect(tableVerdict(table, rPoint + s2, message) == true)
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
            let table = try #require(PrecomputedKey(uncheckedKey: Encoded32(key)!))
            let message = random.bytes(40)
            var nonce = random.bytes(32)
            nonce[31] &= 0x0f
            var rPoint = [UInt8](repeating: 0, count: 32)
            #expect(crypto_scalarmult_ed25519_base_noclamp(&rPoint, nonce) == 0)
            let h = challenge(r: rPoint, key: key, message: message)
            var s = [UInt8](repeating: 0, count: 32)
            crypto_core_ed25519_scalar_mul(&s, h, signer.scalar)
            crypto_core_ed25519_scalar_add(&s, s, nonce)
            let expected = sodiumVerifies(rPoint + s, message, key)
            #expect(tableVerdict(table, rPoint + s, message) == expected)
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
        #expect(PrecomputedKey(uncheckedKey: Encoded32(notOnCurve)!) == nil)
        var p = [UInt8](repeating: 0xff, count: 32)
        p[0] = 0xed
        p[31] = 0x7f
        #expect(PrecomputedKey(uncheckedKey: Encoded32(p)!) == nil)
    }

    @Test("More busy senders than tables: the tables stay where they are; an idle table gives its place up")
    func admission() {
        let verifier = tableVerifier(limit: 2)
        let signers = (0..<3).map { Signer(seed: [UInt8](repeating: UInt8(20 + $0), count: 32)) }
        func verify(_ signer: Signer, _ index: Int) -> Bool {
            let message = Array("message \(index)".utf8)
            return verifier.verify(signer, signer.sign(message), message)
        }
        // Round robin over three senders with room for two: the first two get tables, and no table is rebuilt.
        for round in 0..<8 {
            for signer in signers { #expect(verify(signer, round)) }
        }
        #expect(verifier.statistics.tablesBuilt == 2)
        #expect(verifier.statistics.fromTables == 2 * 6)
        #expect(verifier.statistics.byLibsodium == 2 * 2 + 8)

        // The third sender keeps going while the first two are quiet for more than 16 x limit checks: it takes
        // an idle table's place.
        for index in 0..<40 { #expect(verify(signers[2], 100 + index)) }
        #expect(verifier.statistics.tablesBuilt == 3)
        let fromTables = verifier.statistics.fromTables
        #expect(verify(signers[2], 200))
        #expect(verifier.statistics.fromTables == fromTables + 1)
    }

    @Test("A key gets a table at its second accepted signature, and answers from it after")
    func cachePolicy() {
        let verifier = tableVerifier()
        let signer = Signer(seed: [UInt8](repeating: 5, count: 32))
        let messages = (0..<6).map { Array("message \($0)".utf8) }
        #expect(verifier.verify(signer, signer.sign(messages[0]), messages[0]))
        #expect(verifier.statistics.tablesBuilt == 0)
        var forged = signer.sign(messages[1])
        forged[40] ^= 1
        #expect(!verifier.verify(signer, forged, messages[1]))  // a refusal does not count towards a table
        #expect(verifier.statistics.tablesBuilt == 0)
        #expect(verifier.verify(signer, signer.sign(messages[1]), messages[1]))
        #expect(verifier.statistics.tablesBuilt == 1)
        #expect(verifier.statistics.byLibsodium == 3)
        for message in messages[2...] { #expect(verifier.verify(signer, signer.sign(message), message)) }
        #expect(verifier.statistics.fromTables == 4)
        // A table's refusal is libsodium's to confirm: counted as libsodium's check and as a re-checked refusal.
        #expect(!verifier.verify(signer, forged, messages[1]))
        #expect(verifier.statistics.fromTables == 4)
        #expect(verifier.statistics.refusalsRechecked == 1)
        #expect(verifier.statistics.byLibsodium == 4)
        #expect(verifier.statistics.switchedOff == false)
        #expect(verifier.statistics.disagreements == 0)

        // Limit 0: libsodium only, no table, no self-test.
        let plain = tableVerifier(limit: 0)
        for message in messages { #expect(plain.verify(signer, signer.sign(message), message)) }
        #expect(plain.statistics.fromTables == 0)
        #expect(plain.statistics.tablesBuilt == 0)
        #expect(plain.statistics.byLibsodium == 6)
    }
}
