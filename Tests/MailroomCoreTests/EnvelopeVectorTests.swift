import Foundation
import Testing

@testable import MailroomCore

@Suite("Envelope test vectors (Vectors/envelopes.json)")
struct EnvelopeVectorTests {
    func load() throws -> EnvelopeVectorFile {
        try JSONDecoder().decode(EnvelopeVectorFile.self, from: vectorData("envelopes.json"))
    }

    @Test(
        "Regenerate the vector file (only with MAILROOM_REGENERATE_VECTORS=1)",
        .enabled(if: ProcessInfo.processInfo.environment["MAILROOM_REGENERATE_VECTORS"] == "1")
    )
    func regenerate() throws {
        let data = try EnvelopeVectorGenerator.encode(EnvelopeVectorGenerator.generate())
        try data.write(to: EnvelopeVectorGenerator.sourcePath)
    }

    @Test("The generator reproduces the committed file")
    func reproducible() throws {
        #expect(try EnvelopeVectorGenerator.generate() == load())
    }

    @Test("Valid vectors verify, match their fields and open for both parties")
    func valid() throws {
        let file = try load()
        #expect(file.valid.count >= 5)
        for vector in file.valid {
            let envelope = try Envelope.verify(unhex(vector.envelope_hex))
            let sender = try PublicKey(textileString: vector.sender_public_key)
            let recipient = try Identity(textileString: vector.recipient_private_key)
            let senderIdentity = try Identity(textileString: vector.sender_private_key)
            #expect(envelope.sender == sender, "\(vector.name)")
            #expect(try PublicKey(hexString: vector.sender_public_key_hex) == sender)
            #expect(envelope.recipient == recipient.publicKey)
            #expect(envelope.recipient == (try PublicKey(textileString: vector.recipient_public_key)))
            #expect(envelope.id.description == vector.message_id)
            #expect(hex(envelope.id.bytes) == vector.message_id_hex)
            #expect(envelope.createdAtMilliseconds == vector.created_at_ms)
            #expect(hex(envelope.recipientCiphertext) == vector.recipient_ciphertext_hex)
            #expect(hex(envelope.senderCiphertext) == vector.sender_ciphertext_hex)
            #expect(hex(envelope.recipientCiphertextHash) == vector.recipient_ciphertext_blake2b256_hex)
            #expect(hex(envelope.senderCiphertextHash) == vector.sender_ciphertext_blake2b256_hex)
            #expect(hex(envelope.signature) == vector.signature_hex)
            #expect(vector.signed_message_hex.hasPrefix(file.signed_message_prefix_hex))
            #expect(vector.signed_message_hex.count == 174 * 2)
            #expect(try hex(envelope.open(with: recipient)) == vector.plaintext_hex)
            #expect(try hex(envelope.open(with: senderIdentity)) == vector.plaintext_hex)
            try envelope.inboxCopy.verify()
            try envelope.sentboxCopy.verify()
        }
        // The Textile test key can read what was sealed to it, with Textile's own scheme.
        let hub = try #require(file.valid.first { $0.name == "carol_to_textile_test_key" })
        let seed = try IndependentTextile.seed(ofPrivateKeyString: hub.recipient_private_key)
        #expect(IndependentTextile.open(unhex(hub.recipient_ciphertext_hex), seed: seed) == unhex(hub.plaintext_hex))
    }

    @Test("Every invalid vector is rejected with its reason; every reason code has a vector")
    func invalid() throws {
        let file = try load()
        for vector in file.invalid {
            let error = envelopeError { try Envelope.verify(unhex(vector.envelope_hex)) }
            #expect(error?.reason == vector.reason, "\(vector.name): \(String(describing: error))")
        }
        let covered = Set(file.invalid.map(\.reason))
        for code in EnvelopeError.Code.verificationCodes {
            #expect(covered.contains(code.reason), "no invalid vector for \(code.reason)")
        }
        #expect(file.reason_codes == EnvelopeError.Code.verificationCodes.map(\.reason))
    }
}
