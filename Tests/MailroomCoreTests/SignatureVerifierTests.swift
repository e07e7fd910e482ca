import Foundation
import MailroomEd25519
import Testing

@testable import MailroomCore

/// Envelopes, rows and signed requests checked through the verifier they are given.
@Suite("Envelopes and requests through an Ed25519Verifier")
struct SignatureVerifierTests {
    static func verifierWithTables() -> Ed25519Verifier {
        // A debug build's default is no tables.
        Ed25519Verifier(configuration: .init(precomputedKeyLimit: 16))
    }

    @Test("Envelopes from a repeat sender are checked from its table, and a forgery by that sender is still refused")
    func envelopesThroughTables() throws {
        let verifier = Self.verifierWithTables()
        let sender = Identity.generate()
        let recipient = Identity.generate().publicKey
        var last: [UInt8] = []
        for index in 0..<6 {
            let envelope = try Envelope.seal(from: sender, to: recipient, body: Array("invite \(index)".utf8))
            last = envelope.serialized()
            #expect(try Envelope.verify(last, using: verifier).sender == sender.publicKey)
        }
        // The first two go to libsodium and build the sender's table; the other four are answered from it.
        let after = verifier.statistics
        #expect(after.byLibsodium == 2)
        #expect(after.fromTables == 4)
        #expect(after.tablesBuilt == 1)
        #expect(after.switchedOff == false)
        // One flipped bit in S (low byte: S stays below L): the table refuses, libsodium confirms.
        last[last.count - 30] ^= 0x04
        #expect(envelopeError { try Envelope.verify(last, using: verifier) }?.code == .badSignature)
        #expect(verifier.statistics.refusalsRechecked == 1)
        #expect(verifier.statistics.disagreements == 0)
        // Without a verifier: libsodium alone, the same verdicts.
        #expect(envelopeError { try Envelope.verify(last) }?.code == .badSignature)
    }

    @Test("Rows and records are checked by the verifier given")
    func rowsThroughTables() throws {
        let verifier = Self.verifierWithTables()
        let sender = Identity.generate()
        let recipient = Identity.generate()
        for index in 0..<4 {
            let envelope = try Envelope.seal(from: sender, to: recipient.publicKey, body: Array("row \(index)".utf8))
            try envelope.inboxCopy.verify(using: verifier)
            try envelope.sentboxCopy.verify(using: verifier)
            #expect(
                try MessageRecord(envelope.inboxCopy).open(with: recipient, using: verifier)
                    == Array("row \(index)".utf8)
            )
        }
        #expect(verifier.statistics.fromTables + verifier.statistics.byLibsodium == 12)
        #expect(verifier.statistics.fromTables >= 9)
    }

    @Test("Signed requests are checked by the verifier given")
    func requestsThroughTables() throws {
        let verifier = Self.verifierWithTables()
        let identity = Identity.generate()
        for index in 0..<4 {
            let body = Array("{\"n\":\(index)}".utf8)
            let signature = RequestSignature.sign(
                method: "POST",
                target: "/v1/messages",
                body: body,
                timestampMilliseconds: 1_700_000_000_000,
                nonce: Base64URL.encode([UInt8](repeating: UInt8(index), count: 16)),
                identity: identity
            )
            try signature.verify(method: "POST", target: "/v1/messages", body: body, using: verifier)
            #expect(throws: RequestSignature.Failure.self) {
                try signature.verify(method: "POST", target: "/v1/messages", body: body + [0], using: verifier)
            }
        }
        #expect(verifier.statistics.fromTables == 2)
        #expect(verifier.statistics.disagreements == 0)
    }
}
