import Foundation
import MailroomTestSupport
import Testing

@_spi(Benchmarks) @testable import MailroomCore

@Suite("Envelope v1")
struct EnvelopeTests {
    let body = Array("Hello Bob, this is Alice.".utf8)

    @Test("Seal, serialize, verify and open (both copies) round-trip")
    func roundTrip() throws {
        let sealed = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: body)
        let bytes = sealed.serialized()
        #expect(bytes.count == 161 + 2 * (body.count + 72))
        #expect(bytes[0] == 1)
        let parsed = try Envelope.verify(bytes)
        #expect(parsed.id == sealed.id)
        #expect(parsed.sender == TestKeys.alice.publicKey)
        #expect(parsed.recipient == TestKeys.bob.publicKey)
        #expect(parsed.createdAtMilliseconds == sealed.id.milliseconds)
        #expect(parsed.recipientCiphertext == sealed.recipientCiphertext)
        #expect(parsed.senderCiphertextHash == sealed.senderCiphertextHash)
        #expect(parsed.signature == sealed.signature)
        #expect(parsed.bodyCount == body.count)
        #expect(try parsed.open(with: TestKeys.bob) == body)
        #expect(try parsed.open(with: TestKeys.alice) == body)
        #expect(envelopeError { try parsed.open(with: TestKeys.carol) }?.code == .notAParty)
        // The pointer entry point gives the same envelope.
        let fromPointer = try bytes.withUnsafeBytes { raw throws(EnvelopeError) in try Envelope.verify(raw) }
        #expect(fromPointer.serialized() == bytes)
        #expect(fromPointer == parsed && parsed == sealed)
        #expect(!parsed.description.contains(hex(body)))
    }

    @Test("A benchmark's re-signed envelope verifies with its new id and time, and opens")
    func resigning() throws {
        let template = try Envelope.seal(
            from: TestKeys.alice,
            to: TestKeys.bob.publicKey,
            body: body,
            createdAt: Date(timeIntervalSince1970: 1_700_000_000)
        )
        let fresh = Envelope.resigning(template, from: TestKeys.alice)
        let parsed = try Envelope.verify(fresh.serialized())
        #expect(parsed.id != template.id)
        #expect(parsed.createdAtMilliseconds == fresh.id.milliseconds)
        #expect(parsed.createdAtMilliseconds > template.createdAtMilliseconds)
        #expect(parsed.recipientCiphertext == template.recipientCiphertext)
        #expect(parsed.signature != template.signature)
        #expect(try parsed.open(with: TestKeys.bob) == body)
        // The template's signature does not carry over to the new header.
        var forged = fresh.serialized()
        let signature = template.signature
        forged.replaceSubrange((forged.count - 64)..<forged.count, with: signature)
        #expect(envelopeError { try Envelope.verify(forged) }?.code == .badSignature)
    }

    @Test("id and createdAt: given, derived, or rejected when they disagree")
    func idAndTime() throws {
        let date = Date(timeIntervalSince1970: 1_767_225_600.123)
        let byTime = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: body, createdAt: date)
        #expect(byTime.createdAtMilliseconds == 1_767_225_600_123)
        #expect(byTime.id.milliseconds == 1_767_225_600_123)
        let id = try MessageID(milliseconds: 42)
        let byID = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: body, id: id)
        #expect(byID.id == id && byID.createdAtMilliseconds == 42)
        let clash = envelopeError {
            try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: body, id: id, createdAt: date)
        }
        #expect(clash?.code == .invalidMessageID)
    }

    @Test("Body limit: enforced when sealing and parsing, configurable")
    func limits() throws {
        let big = [UInt8](repeating: 7, count: 65_537)
        let error = envelopeError { try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: big) }
        #expect(error?.code == .bodyTooLarge)
        let roomy = EnvelopeLimits(maxBodyBytes: 70_000)
        let sealed = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: big, limits: roomy)
        #expect(envelopeError { try Envelope.verify(sealed.serialized()) }?.code == .bodyTooLarge)
        #expect(try Envelope.verify(sealed.serialized(), limits: roomy).open(with: TestKeys.bob) == big)
        let exact = try Envelope.seal(
            from: TestKeys.alice,
            to: TestKeys.bob.publicKey,
            body: [UInt8](repeating: 1, count: 65_536)
        )
        #expect(try Envelope.verify(exact.serialized()).bodyCount == 65_536)
    }

    @Test("Inbox and sentbox rows verify alone and open for their owner")
    func rows() throws {
        let envelope = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: body)
        let inbox = envelope.inboxCopy
        let sentbox = envelope.sentboxCopy
        try inbox.verify()
        try sentbox.verify()
        #expect(try inbox.open(with: TestKeys.bob) == body)
        #expect(try sentbox.open(with: TestKeys.alice) == body)
        #expect(envelopeError { try inbox.open(with: TestKeys.alice) }?.code == .notAParty)
        #expect(envelopeError { try sentbox.open(with: TestKeys.bob) }?.code == .notAParty)

        // Rebuilt from "database columns".
        let fromColumns = InboxCopy(
            id: try MessageID(bytes: envelope.id.bytes),
            sender: try PublicKey(bytes: envelope.sender.bytes),
            recipient: try PublicKey(hexString: envelope.recipient.hexString),
            createdAtMilliseconds: envelope.createdAtMilliseconds,
            recipientCiphertext: envelope.recipientCiphertext,
            senderCiphertextHash: envelope.senderCiphertextHash,
            signature: envelope.signature
        )
        #expect(fromColumns == inbox)
        try fromColumns.verify()
    }

    @Test("Tampered rows fail with a typed error")
    func tamperedRows() throws {
        let envelope = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: body)
        func inboxFailure(_ edit: (inout InboxCopy) -> Void) -> EnvelopeError.Code? {
            var row = envelope.inboxCopy
            edit(&row)
            return envelopeError { try row.verify() }?.code
        }
        func sentboxFailure(_ edit: (inout SentboxCopy) -> Void) -> EnvelopeError.Code? {
            var row = envelope.sentboxCopy
            edit(&row)
            return envelopeError { try row.verify() }?.code
        }
        #expect(inboxFailure { $0.recipientCiphertext[80] ^= 1 } == .badSignature)
        #expect(inboxFailure { $0.senderCiphertextHash[0] ^= 1 } == .badSignature)
        #expect(inboxFailure { $0.signature[5] ^= 1 } == .badSignature)
        #expect(inboxFailure { $0.recipient = TestKeys.carol.publicKey } == .badSignature)
        #expect(inboxFailure { $0.sender = TestKeys.carol.publicKey } == .badSignature)
        #expect(inboxFailure { $0.id = try! MessageID(milliseconds: $0.createdAtMilliseconds) } == .badSignature)
        #expect(inboxFailure { $0.createdAtMilliseconds += 1 } == .invalidMessageID)
        #expect(inboxFailure { $0.senderCiphertextHash.removeLast() } == .invalidFieldLength)
        #expect(inboxFailure { $0.signature.append(0) } == .invalidFieldLength)
        #expect(
            inboxFailure { $0.recipientCiphertext = Array($0.recipientCiphertext.prefix(71)) }
                == .invalidCiphertextLength
        )
        #expect(sentboxFailure { $0.senderCiphertext[0] ^= 1 } == .badSignature)
        #expect(sentboxFailure { $0.recipientCiphertextHash[31] ^= 1 } == .badSignature)
        #expect(sentboxFailure { $0.signature[63] ^= 1 } == .badSignature)
        // An inbox row's fields reused as a sentbox row do not verify.
        let inbox = envelope.inboxCopy
        let confused = SentboxCopy(
            id: inbox.id,
            sender: inbox.sender,
            recipient: inbox.recipient,
            createdAtMilliseconds: inbox.createdAtMilliseconds,
            senderCiphertext: inbox.recipientCiphertext,
            recipientCiphertextHash: inbox.senderCiphertextHash,
            signature: inbox.signature
        )
        #expect(envelopeError { try confused.verify() }?.code == .badSignature)
        // A row that verifies but whose ciphertext was sealed for someone else still does not open.
        #expect(envelopeError { try envelope.inboxCopy.open(with: TestKeys.bob) } == nil)
    }

    @Test("Flipping any single byte of a small envelope makes it fail")
    func everyByteFlip() throws {
        let envelope = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: [0x42])
        let good = envelope.serialized()
        var reasons: [String: Int] = [:]
        for position in good.indices {
            for mask: UInt8 in [0x01, 0x80, 0xff] {
                var bad = good
                bad[position] ^= mask
                let error = envelopeError { try Envelope.verify(bad) }
                #expect(error != nil, "flip \(mask) at \(position) verified")
                reasons[error?.reason ?? "none", default: 0] += 1
            }
        }
        #expect(reasons["none"] == nil)
        for reason in [
            "unsupported_version", "invalid_message_id", "bad_signature", "invalid_sender_key",
            "invalid_recipient_key", "body_too_large", "invalid_ciphertext_length",
        ] {
            #expect(reasons[reason, default: 0] > 0, "no flip gave \(reason)")
        }
    }

    @Test("100,000 seeded random and mutated inputs never crash and never verify")
    func fuzz() throws {
        var rng = SplitMix64(seed: 0xfeed_beef)
        let envelopes = try (0..<4).map { i in
            try Envelope.seal(
                from: TestKeys.alice,
                to: TestKeys.bob.publicKey,
                body: rng.bytes([0, 1, 16, 200][i])
            ).serialized()
        }
        var verified = 0
        var reasons: [String: Int] = [:]
        for iteration in 0..<100_000 {
            var input: [UInt8]
            switch iteration % 5 {
            case 0:
                // Random bytes with a plausible start.
                input = [1] + rng.bytes(Int.random(in: 0..<400, using: &rng))
            case 1:
                // Random bytes, any first byte.
                input = rng.bytes(Int.random(in: 0..<64, using: &rng))
            default:
                // Mutations of a valid envelope.
                input = envelopes[Int.random(in: 0..<envelopes.count, using: &rng)]
                let mutations = Int.random(in: 1...4, using: &rng)
                for _ in 0..<mutations {
                    switch Int.random(in: 0..<5, using: &rng) {
                    case 0, 1:
                        let at = Int.random(in: 0..<input.count, using: &rng)
                        input[at] ^= UInt8.random(in: 1...255, using: &rng)
                    case 2:
                        input.removeLast(Int.random(in: 1...min(8, input.count - 1), using: &rng))
                    case 3:
                        input.append(contentsOf: rng.bytes(Int.random(in: 1...8, using: &rng)))
                    default:
                        let at = Int.random(in: 0..<input.count, using: &rng)
                        input.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                    }
                }
                if envelopes.contains(input) { continue }
            }
            do {
                _ = try Envelope.verify(input)
                verified += 1
            } catch {
                reasons[error.reason, default: 0] += 1
                #expect(EnvelopeError.Code.verificationCodes.contains(error.code))
            }
        }
        #expect(verified == 0)
        #expect(reasons.values.reduce(0, +) >= 99_000)
    }

    @Test("Error descriptions contain neither bodies nor keys")
    func errorTexts() throws {
        let secretBody = Array("TOP-SECRET-BODY-TEXT".utf8)
        let envelope = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: secretBody)
        let good = envelope.serialized()
        let forbidden = [
            hex(secretBody), "TOP-SECRET", TestKeys.alice.exportTextileString(), TestKeys.bob.exportTextileString(),
            TestKeys.alice.publicKey.hexString, TestKeys.bob.publicKey.hexString,
            TestKeys.alice.publicKey.textileString,
            TestKeys.bob.publicKey.textileString, hex(envelope.recipientCiphertext.prefix(8)),
        ]
        var inputs: [[UInt8]] = [[], [2], Array(good.prefix(100)), good + [0]]
        for position in stride(from: 0, to: good.count, by: 7) {
            var bad = good
            bad[position] ^= 0x80
            inputs.append(bad)
        }
        for input in inputs {
            guard let error = envelopeError({ try Envelope.verify(input) }) else { continue }
            for text in [error.description, error.detail, String(reflecting: error)] {
                for secret in forbidden { #expect(!text.contains(secret)) }
            }
        }
        let decryption = envelopeError { try envelope.open(with: TestKeys.carol) }
        #expect(decryption.map { !$0.description.contains("TOP-SECRET") } == true)
    }
}
