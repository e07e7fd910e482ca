import Foundation
import MailroomTestSupport
import Testing

@testable import MailroomCore

struct TextileKeyVector: Decodable {
    let private_key_string: String
    let private_key_string_legacy_96_byte_form: String
    let public_key_string: String
    let private_key_libp2p_protobuf_hex: String
    let ciphertext_hex: String
    let plaintext_utf8: String
}

func textileVector() throws -> TextileKeyVector {
    try JSONDecoder().decode(TextileKeyVector.self, from: vectorData("textile-box.json"))
}

@Suite("Identities and key strings")
struct KeyStringTests {
    @Test("Textile's private key strings (64- and 96-byte forms) give the vector's public key")
    func textileKeys() throws {
        let vector = try textileVector()
        let identity = try Identity(textileString: vector.private_key_string)
        let legacy = try Identity(textileString: vector.private_key_string_legacy_96_byte_form)
        let publicKey = try PublicKey(textileString: vector.public_key_string)
        #expect(identity.publicKey == publicKey)
        #expect(legacy == identity)
        #expect(publicKey.textileString == vector.public_key_string)
        #expect(publicKey.description.hasPrefix("bbaarei"))
        // Writing always uses the 64-byte form.
        #expect(identity.exportTextileString() == vector.private_key_string)
        #expect(legacy.exportTextileString() == vector.private_key_string)
        #expect(vector.private_key_string.hasPrefix("bbaareq"))
    }

    @Test("Generated keys round-trip through Textile strings and hex")
    func roundTrips() throws {
        for _ in 0..<20 {
            let identity = Identity.generate()
            let exported = identity.exportTextileString()
            #expect(exported.hasPrefix("bbaareq"))
            let reread = try Identity(textileString: exported)
            #expect(reread == identity)
            #expect(reread.publicKey == identity.publicKey)
            let text = identity.publicKey.textileString
            #expect(text.hasPrefix("bbaarei"))
            #expect(try PublicKey(textileString: text) == identity.publicKey)
            let hexString = identity.publicKey.hexString
            #expect(hexString.count == 64)
            #expect(try PublicKey(hexString: hexString) == identity.publicKey)
            #expect(try PublicKey(hexString: hexString.uppercased()) == identity.publicKey)
            #expect(try PublicKey(bytes: identity.publicKey.bytes) == identity.publicKey)
        }
    }

    @Test("Public keys order by bytes")
    func ordering() throws {
        var rng = SplitMix64(seed: 7)
        let keys = (0..<50).map { _ in try! Identity(seed: rng.bytes(32)).publicKey }
        let sorted = keys.sorted()
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            #expect(a.bytes.lexicographicallyPrecedes(b.bytes))
        }
        #expect(Set(keys).count == 50)
    }

    @Test(
        "Malformed key strings give typed errors",
        arguments: [
            ("", KeyError.Code.invalidMultibasePrefix),
            ("zbaareiancbpdclnqosk4xniw22lwjsira6cc3yypi7ovshu4nhprnzh5bu", .invalidMultibasePrefix),
            ("Bbaareiancbpdclnqosk4xniw22lwjsira6cc3yypi7ovshu4nhprnzh5bu", .invalidMultibasePrefix),
            ("bBAAREIANCBPDCLNQOSK4XNIW22LWJSIRA6CC3YYPI7OVSHU4NHPRNZH5BU", .invalidBase32),
            ("bbaarei1ncbpdclnqosk4xniw22lwjsira6cc3yypi7ovshu4nhprnzh5bu", .invalidBase32),
            ("bbaareiancbpdclnqosk4xniw22lwjsira6cc3yypi7ovshu4nhprnzh5b", .invalidBase32),
            ("bbaareiancbpdclnqosk4xniw22lwjsira6cc3yypi7ovshu4nhprnzh5bv", .invalidBase32),
            ("bbaareiancbpdclnqosk4xniw22lwjsira6cc3yypi7ovshu4nhprnzh5buaa", .invalidProtobuf),
            ("bbaareiancbpdclnqosk4xniw22lwjsira6cc3yypi7ovshu4nhprnzh5", .invalidProtobuf),
        ]
    )
    func malformedPublicKeyStrings(input: String, expected: KeyError.Code) {
        let error = keyError { try PublicKey(textileString: input) }
        #expect(error?.code == expected, "\(input): \(String(describing: error))")
    }

    @Test("Wrong key type, wrong length, invalid point and mismatched public half")
    func semanticErrors() throws {
        let vector = try textileVector()
        let publicBytes = try PublicKey(textileString: vector.public_key_string).bytes

        // Key type 2 (secp256k1).
        let secp = Multibase.encodeBase32([0x08, 0x02, 0x12, 0x20] + publicBytes)
        #expect(keyError { try PublicKey(textileString: secp) }?.code == .unsupportedKeyType)

        // A private key given where a public key is expected, and vice versa.
        #expect(keyError { try PublicKey(textileString: vector.private_key_string) }?.code == .invalidKeyLength)
        #expect(keyError { try Identity(textileString: vector.public_key_string) }?.code == .invalidKeyLength)

        // Small-order point (all zeros) and a byte string off the curve.
        let zeros = Multibase.encodeBase32(LibP2PKey.encodeEd25519([UInt8](repeating: 0, count: 32)))
        #expect(keyError { try PublicKey(textileString: zeros) }?.code == .invalidPoint)
        #expect(keyError { try PublicKey(hexString: String(repeating: "0", count: 64)) }?.code == .invalidPoint)
        #expect(keyError { try PublicKey(hexString: "abc") }?.code == .invalidHex)
        #expect(keyError { try PublicKey(hexString: "zz" + String(repeating: "0", count: 62)) }?.code == .invalidHex)
        #expect(keyError { try PublicKey(bytes: [1, 2, 3]) }?.code == .invalidKeyLength)

        // Private key whose public half belongs to someone else.
        let protobuf = unhex(vector.private_key_libp2p_protobuf_hex)
        var data = Array(protobuf[4..<68])
        data[40] ^= 1
        let mismatched = Multibase.encodeBase32(LibP2PKey.encodeEd25519(data))
        #expect(keyError { try Identity(textileString: mismatched) }?.code == .mismatchedPublicKey)
        // Legacy form whose second public copy differs.
        var legacy = Array(protobuf[4...])
        legacy[95] ^= 1
        let badLegacy = Multibase.encodeBase32(LibP2PKey.encodeEd25519(legacy))
        #expect(keyError { try Identity(textileString: badLegacy) }?.code == .mismatchedPublicKey)
        #expect(keyError { try Identity(seed: [1, 2]) }?.code == .invalidKeyLength)
    }

    @Test("Secrets are never printed; key errors carry no key material")
    func redaction() throws {
        let vector = try textileVector()
        let identity = try Identity(textileString: vector.private_key_string)
        let secret = identity.exportTextileString()
        let seedHex = String(vector.private_key_libp2p_protobuf_hex.dropFirst(8).prefix(64))
        var dumped = ""
        dump(identity, to: &dumped)
        for text in [
            identity.description, identity.debugDescription, String(reflecting: identity), "\(identity)", dumped,
            identity.secretKey.description, identity.curveSecretKey.debugDescription,
        ] {
            #expect(!text.contains(secret))
            #expect(!text.contains(seedHex))
            #expect(!text.contains(String(secret.dropFirst(8).prefix(20))))
        }
        #expect(identity.description.contains(identity.publicKey.textileString))

        var corrupted = Array(secret.utf8)
        corrupted[30] = UInt8(ascii: "!")
        let error = keyError { try Identity(textileString: String(decoding: corrupted, as: UTF8.self)) }
        #expect(error?.code == .invalidBase32)
        #expect(error.map { !$0.description.contains(String(secret.dropFirst(8).prefix(12))) } == true)
    }

    @Test("Identity equality is by secret key (constant-time compare)")
    func equality() throws {
        let a = TestKeys.alice
        let a2 = try Identity(seed: (0..<32).map { UInt8($0) })
        #expect(a == a2)
        #expect(a != TestKeys.bob)
        #expect(a.secretKey.constantTimeEquals(a2.secretKey))
        #expect(!a.secretKey.constantTimeEquals(TestKeys.bob.secretKey))
    }

    @Test("Multibase base32 round-trips every length and rejects non-canonical padding bits")
    func base32() throws {
        var rng = SplitMix64(seed: 1)
        for length in 0..<40 {
            let bytes = rng.bytes(length)
            let encoded = Multibase.encodeBase32(bytes)
            #expect(try Multibase.decodeBase32(encoded) == bytes)
        }
        // "ba" would be one symbol: not a whole byte. "bab" has 2 leftover bits that must be zero.
        #expect(keyError { try Multibase.decodeBase32("ba") }?.code == .invalidBase32)
        #expect(keyError { try Multibase.decodeBase32("bab") }?.code == .invalidBase32)
        #expect(try Multibase.decodeBase32("bae") == [0x01])
    }
}
