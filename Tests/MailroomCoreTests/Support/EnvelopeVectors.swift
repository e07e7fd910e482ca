import Foundation
import MailroomTestSupport

@testable import MailroomCore

/// The envelope test vector file (Vectors/envelopes.json): a format other languages can read.
struct EnvelopeVectorFile: Codable, Equatable {
    struct Valid: Codable, Equatable {
        var name: String
        var sender_public_key: String
        var sender_public_key_hex: String
        var sender_private_key: String
        var recipient_public_key: String
        var recipient_public_key_hex: String
        var recipient_private_key: String
        var message_id: String
        var message_id_hex: String
        var created_at_ms: Int64
        var plaintext_hex: String
        var recipient_ciphertext_hex: String
        var sender_ciphertext_hex: String
        var recipient_ciphertext_blake2b256_hex: String
        var sender_ciphertext_blake2b256_hex: String
        var signed_message_hex: String
        var signature_hex: String
        var envelope_hex: String
    }

    struct Invalid: Codable, Equatable {
        var name: String
        var description: String
        var reason: String
        var envelope_hex: String
    }

    var about: String
    var max_body_bytes: Int
    var signed_message_prefix_hex: String
    var reason_codes: [String]
    var valid: [Valid]
    var invalid: [Invalid]
}

/// Builds the vector file deterministically: fixed seeds for keys, nonces and ephemeral keys.
enum EnvelopeVectorGenerator {
    static let textilePrivateKey =
        "bbaareqhcbsgr5fa56zclmuvprddrj5icyyv2dfea5cmdpnt7ehosjx7ukugraxrrfwyhjfolwulnnf3ezeiqpbbn4mhupxkzd2ogtxyw4t6q2"

    static func generate() throws -> EnvelopeVectorFile {
        var rng = SplitMix64(seed: 0x6d61_696c_726f_6f6d)  // "mailroom"
        let alice = TestKeys.alice
        let bob = TestKeys.bob
        let carol = TestKeys.carol
        let textile = try Identity(textileString: textilePrivateKey)
        let baseTime: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

        func id(_ offset: Int64) -> MessageID {
            let random = rng.bytes(10)
            let time = baseTime + offset
            let timeBytes = (0..<6).map { UInt8(truncatingIfNeeded: time >> (8 * (5 - $0))) }
            return try! MessageID(bytes: timeBytes + random)
        }

        func seal(_ from: Identity, _ to: Identity, _ body: [UInt8], _ messageID: MessageID) throws -> Envelope {
            try Envelope.seal(
                from: from,
                to: to.publicKey,
                body: body,
                id: messageID,
                limits: EnvelopeLimits(),
                deterministicSeeds: rng.bytes(112)
            )
        }

        func valid(
            _ name: String,
            _ from: Identity,
            _ to: Identity,
            _ envelope: Envelope,
            _ body: [UInt8]
        )
            -> EnvelopeVectorFile.Valid
        {
            let signed = EnvelopeLayout.withSignedMessage(
                id: envelope.id,
                sender: envelope.sender.raw,
                recipient: envelope.recipient.raw,
                createdAt: envelope.createdAtMilliseconds,
                recipientCiphertextHash: envelope.recipientCiphertextDigest,
                senderCiphertextHash: envelope.senderCiphertextDigest
            ) { Array($0) }
            return .init(
                name: name,
                sender_public_key: from.publicKey.textileString,
                sender_public_key_hex: from.publicKey.hexString,
                sender_private_key: from.exportTextileString(),
                recipient_public_key: to.publicKey.textileString,
                recipient_public_key_hex: to.publicKey.hexString,
                recipient_private_key: to.exportTextileString(),
                message_id: envelope.id.description,
                message_id_hex: hex(envelope.id.bytes),
                created_at_ms: envelope.createdAtMilliseconds,
                plaintext_hex: hex(body),
                recipient_ciphertext_hex: hex(envelope.recipientCiphertext),
                sender_ciphertext_hex: hex(envelope.senderCiphertext),
                recipient_ciphertext_blake2b256_hex: hex(envelope.recipientCiphertextHash),
                sender_ciphertext_blake2b256_hex: hex(envelope.senderCiphertextHash),
                signed_message_hex: hex(signed),
                signature_hex: hex(envelope.signature),
                envelope_hex: hex(envelope.serialized())
            )
        }

        let hello = Array("Hello Bob, this is Alice.".utf8)
        let base = try seal(alice, bob, hello, id(0))
        var valids = [valid("alice_to_bob_text", alice, bob, base, hello)]
        let empty = try seal(bob, alice, [], id(1))
        valids.append(valid("bob_to_alice_empty_body", bob, alice, empty, []))
        let binary = rng.bytes(256)
        valids.append(
            valid("alice_to_carol_256_byte_body", alice, carol, try seal(alice, carol, binary, id(2)), binary)
        )
        let note = Array("note to self".utf8)
        valids.append(valid("alice_to_herself", alice, alice, try seal(alice, alice, note, id(3)), note))
        let hub = Array("Hello World!!!".utf8)
        valids.append(valid("carol_to_textile_test_key", carol, textile, try seal(carol, textile, hub, id(4)), hub))

        // Invalid vectors, mostly derived from the first valid envelope.
        let good = base.serialized()
        let ctCount = base.recipientCiphertext.count
        let rStart = 93
        let sLenOffset = rStart + ctCount
        let sStart = sLenOffset + 4
        var invalid: [EnvelopeVectorFile.Invalid] = []
        func add(_ name: String, _ reason: EnvelopeError.Code, _ description: String, _ bytes: [UInt8]) {
            invalid.append(.init(name: name, description: description, reason: reason.reason, envelope_hex: hex(bytes)))
        }
        func patched(_ bytes: [UInt8], _ edits: [(Int, [UInt8])]) -> [UInt8] {
            var out = bytes
            for (offset, replacement) in edits {
                out.replaceSubrange(offset..<offset + replacement.count, with: replacement)
            }
            return out
        }
        func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * (3 - $0))) } }
        func i64(_ v: Int64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * (7 - $0))) } }

        add("version_2", .unsupportedVersion, "version byte 2", patched(good, [(0, [2])]))
        add("version_0", .unsupportedVersion, "version byte 0", patched(good, [(0, [0])]))
        add("empty", .truncated, "no bytes at all", [])
        add("header_only", .truncated, "cut inside the fixed header (50 bytes)", Array(good[0..<50]))
        add("cut_in_recipient_ct", .truncated, "cut inside the recipient ciphertext", Array(good[0..<(rStart + 10)]))
        add("cut_in_sender_ct", .truncated, "cut inside the sender ciphertext", Array(good[0..<(sStart + 10)]))
        add("cut_in_signature", .truncated, "last byte of the signature missing", Array(good.dropLast()))
        add("trailing_byte", .trailingBytes, "one zero byte after the signature", good + [0])
        add("trailing_envelope", .trailingBytes, "the envelope twice", good + good)
        do {
            // Recipient ciphertext of 10 bytes, consistently framed.
            let short = Array(good[0..<89]) + u32(10) + Array(good[rStart..<rStart + 10]) + Array(good[sLenOffset...])
            add("recipient_ct_shorter_than_box", .invalidCiphertextLength, "recipient_ct_len 10 < 72", short)
            // Sender ciphertext one byte shorter than the recipient's.
            let skew =
                Array(good[0..<sLenOffset]) + u32(ctCount - 1) + Array(good[sStart..<sStart + ctCount - 1])
                + Array(good.suffix(64))
            add("copies_of_different_length", .invalidCiphertextLength, "sender_ct_len != recipient_ct_len", skew)
            let zero = Array(good[0..<89]) + u32(0) + Array(good[sLenOffset...])
            add("recipient_ct_empty", .invalidCiphertextLength, "recipient_ct_len 0", zero)
        }
        add(
            "body_over_64k",
            .bodyTooLarge,
            "recipient_ct_len declares a 65,537-byte body (checked before the bytes are read)",
            patched(good, [(89, u32(65_537 + 72))])
        )
        add(
            "huge_length",
            .bodyTooLarge,
            "recipient_ct_len 0xffffffff",
            patched(good, [(89, [0xff, 0xff, 0xff, 0xff])])
        )
        let smallOrder = [UInt8](repeating: 0, count: 32)
        let identityPoint = [1] + [UInt8](repeating: 0, count: 31)
        var offCurve = [2] + [UInt8](repeating: 0, count: 31)
        while SodiumSign.curvePublicKey(for: Bytes32(offCurve)!) != nil { offCurve[0] += 1 }
        add(
            "sender_small_order",
            .invalidSenderKey,
            "sender key is 32 zero bytes (a small-order point)",
            patched(good, [(17, smallOrder)])
        )
        add(
            "sender_identity_point",
            .invalidSenderKey,
            "sender key is the neutral element",
            patched(good, [(17, identityPoint)])
        )
        add(
            "sender_off_curve",
            .invalidSenderKey,
            "sender key is not a valid point (off the curve or outside the prime-order subgroup)",
            patched(good, [(17, offCurve)])
        )
        add(
            "recipient_small_order",
            .invalidRecipientKey,
            "recipient key is 32 zero bytes",
            patched(good, [(49, smallOrder)])
        )
        add(
            "recipient_off_curve",
            .invalidRecipientKey,
            "recipient key is not a valid point (off the curve or outside the prime-order subgroup)",
            patched(good, [(49, offCurve)])
        )
        add(
            "created_at_plus_1ms",
            .invalidMessageID,
            "created_at one millisecond after the id's time",
            patched(good, [(81, i64(base.createdAtMilliseconds + 1))])
        )
        add(
            "id_time_changed",
            .invalidMessageID,
            "the id's time differs from created_at",
            patched(good, [(1, [good[1] ^ 0x01])])
        )
        add("created_at_negative", .invalidMessageID, "created_at -1", patched(good, [(81, i64(-1))]))
        add(
            "signature_flipped",
            .badSignature,
            "last signature byte changed",
            patched(good, [(good.count - 1, [good[good.count - 1] ^ 0x01])])
        )
        add(
            "recipient_ct_flipped",
            .badSignature,
            "a byte of the recipient ciphertext changed",
            patched(good, [(rStart + 60, [good[rStart + 60] ^ 0x80])])
        )
        add(
            "sender_ct_flipped",
            .badSignature,
            "a byte of the sender ciphertext changed",
            patched(good, [(sStart + 30, [good[sStart + 30] ^ 0x80])])
        )
        add(
            "readdressed",
            .badSignature,
            "recipient replaced by another valid key, signature kept",
            patched(good, [(49, carol.publicKey.bytes)])
        )
        add(
            "resent_as_someone_else",
            .badSignature,
            "sender replaced by another valid key, signature kept",
            patched(good, [(17, carol.publicKey.bytes)])
        )
        add(
            "replayed_with_new_id",
            .badSignature,
            "random part of the id changed, signature kept",
            patched(good, [(10, [good[10] ^ 0x55])])
        )
        let redated = base.createdAtMilliseconds + 86_400_000
        let redatedID = (0..<6).map { UInt8(truncatingIfNeeded: redated >> (8 * (5 - $0))) }
        add(
            "redated",
            .badSignature,
            "id time and created_at both moved one day, signature kept",
            patched(good, [(1, redatedID), (81, i64(redated))])
        )
        add(
            "copies_swapped",
            .badSignature,
            "recipient and sender ciphertexts swapped",
            Array(good[0..<rStart]) + Array(good[sStart..<sStart + ctCount]) + u32(ctCount)
                + Array(good[rStart..<rStart + ctCount]) + Array(good.suffix(64))
        )
        add(
            "signature_zero",
            .badSignature,
            "all-zero signature",
            patched(good, [(good.count - 64, [UInt8](repeating: 0, count: 64))])
        )

        return EnvelopeVectorFile(
            about: "Mailroom envelope v1 test vectors. Layout, signed message and reason codes: docs/ENVELOPE.md. "
                + "Keys are Textile key strings (multibase base32 of libp2p protobuf keys). Valid vectors must "
                + "verify and open (recipient and sender copies) to plaintext_hex; invalid vectors must be "
                + "rejected with the given reason (checks run in the documented order, default limit 65536 bytes).",
            max_body_bytes: EnvelopeLimits().maxBodyBytes,
            signed_message_prefix_hex: hex(EnvelopeLayout.domain),
            reason_codes: EnvelopeError.Code.verificationCodes.map(\.reason),
            valid: valids,
            invalid: invalid
        )
    }

    static func encode(_ file: EnvelopeVectorFile) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(file) + Data("\n".utf8)
    }

    /// The source-tree location of the vector file (for regeneration).
    static var sourcePath: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Vectors/envelopes.json")
    }
}
