import Foundation
import MailroomTestSupport

@testable import MailroomCore

/// The batch envelope test vector file (Vectors/batch-envelopes.json): format v2, readable from other languages.
struct BatchVectorFile: Codable, Equatable {
    struct Recipient: Codable, Equatable {
        var index: Int
        var public_key_hex: String
        var private_key: String
        var message_id: String
        var message_id_hex: String
        var item_hex: String
        var leaf_hex: String
        var leaf_hash_hex: String
        var path_hex: [String]
        var plaintext_hex: String
        var record_hex: String
    }

    struct Valid: Codable, Equatable {
        var name: String
        var kind: String
        var sender_public_key_hex: String
        var sender_private_key: String
        var batch_id: String
        var batch_id_hex: String
        var created_at_ms: Int64
        var recipient_count: Int
        var ephemeral_public_key_hex: String
        var shared_payload_hex: String
        var payload_hash_hex: String
        var header_hex: String
        var root_hex: String
        var signed_message_hex: String
        var signature_hex: String
        var sender_plaintext_hex: String
        var sender_ciphertext_hex: String
        var sender_copy_hex: String
        var recipients: [Recipient]
    }

    struct Invalid: Codable, Equatable {
        var name: String
        var description: String
        /// `recipient` (a recipient record) or `sender` (a sender's copy).
        var part: String
        var reason: String
        var value_hex: String
    }

    var about: String
    var max_body_bytes: Int
    var max_recipients: Int
    var signature_domain_hex: String
    var reason_codes: [String]
    var valid: [Valid]
    var invalid: [Invalid]
    /// Portable batch records (record format v2) made from the valid batches, in binary and JSON form.
    var portable_records: [PortableBatchRecord]
    /// Portable batch records that a reader refuses, at the stage given.
    var invalid_portable_records: [InvalidPortableBatchRecord]
}

/// Builds the vector file deterministically: fixed seeds for keys, ids, content keys, nonces and ephemeral keys.
enum BatchVectorGenerator {
    final class Random {
        var rng: SplitMix64
        init(seed: UInt64) { rng = SplitMix64(seed: seed) }
        func bytes(_ count: Int) -> [UInt8] { rng.bytes(count) }
    }

    static let baseTime: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

    static func identity(_ n: UInt8) -> Identity {
        try! Identity(seed: (0..<32).map { UInt8(truncatingIfNeeded: Int(n) &* 7 &+ $0) })
    }

    static func seal(
        _ random: Random,
        kind: BatchHeader.Kind,
        from sender: Identity,
        to recipients: [Identity],
        bodies: [[UInt8]],
        senderBody: [UInt8],
        offset: Int64
    ) throws -> BatchEnvelope {
        let time = baseTime + offset
        let timeBytes = (0..<6).map { UInt8(truncatingIfNeeded: time >> (8 * (5 - $0))) }
        let batchID = try MessageID(bytes: timeBytes + random.bytes(10))
        return try BatchSealing.seal(
            kind: kind,
            sender: sender,
            recipients: recipients.map(\.publicKey),
            bodies: bodies,
            senderBody: senderBody,
            batchID: batchID,
            limits: BatchLimits(),
            random: { random.bytes($0) }
        )
    }

    static func valid(
        _ name: String,
        _ batch: BatchEnvelope,
        sender: Identity,
        recipients: [Identity],
        bodies: [[UInt8]],
        senderBody: [UInt8]
    ) -> BatchVectorFile.Valid {
        let header = batch.header.serialized()
        let copy = batch.senderCopy
        return .init(
            name: name,
            kind: batch.header.kind.name,
            sender_public_key_hex: sender.publicKey.hexString,
            sender_private_key: sender.exportTextileString(),
            batch_id: batch.header.batchID.description,
            batch_id_hex: hex(batch.header.batchID.bytes),
            created_at_ms: batch.header.createdAtMilliseconds,
            recipient_count: batch.recipientCount,
            ephemeral_public_key_hex: hex(batch.header.ephemeralPublicKeyBytes),
            shared_payload_hex: hex(batch.sharedPayload),
            payload_hash_hex: hex(batch.header.payloadHashBytes),
            header_hex: hex(header),
            root_hex: hex(batch.root),
            signed_message_hex: hex(BatchLayout.signedMessage(header: header[...], root: batch.rootHash)),
            signature_hex: hex(batch.signature),
            sender_plaintext_hex: hex(senderBody),
            sender_ciphertext_hex: hex(copy.senderCiphertext),
            sender_copy_hex: hex(copy.serialized()),
            recipients: batch.recipientEnvelopes().enumerated().map { i, record in
                let leaf = record.leaf
                return .init(
                    index: i,
                    public_key_hex: recipients[i].publicKey.hexString,
                    private_key: recipients[i].exportTextileString(),
                    message_id: record.messageID.description,
                    message_id_hex: hex(record.messageID.bytes),
                    item_hex: hex(record.item),
                    leaf_hex: hex(leaf),
                    leaf_hash_hex: hex(BatchLayout.leafHash(leaf).bytes),
                    path_hex: record.path.map { hex($0) },
                    plaintext_hex: hex(bodies.count == 1 ? bodies[0] : bodies[i]),
                    record_hex: hex(record.serialized())
                )
            }
        )
    }

    static func generate() throws -> BatchVectorFile {
        let random = Random(seed: 0x6261_7463_6876_3200)  // "batchv2"
        let alice = TestKeys.alice
        let people = [TestKeys.bob, TestKeys.carol] + (1...6).map { identity(UInt8($0)) }
        let invite = Array("You are invited: Mailroom launch, Friday 18:00.".utf8)

        let shared5 = try seal(
            random,
            kind: .shared,
            from: alice,
            to: Array(people[0..<5]),
            bodies: [invite],
            senderBody: invite,
            offset: 0
        )
        let shared1 = try seal(
            random,
            kind: .shared,
            from: alice,
            to: [people[0]],
            bodies: [invite],
            senderBody: invite,
            offset: 1
        )
        let shared6Body = random.bytes(200)
        let shared6 = try seal(
            random,
            kind: .shared,
            from: alice,
            to: Array(people[1..<7]),
            bodies: [shared6Body],
            senderBody: shared6Body,
            offset: 0  // the same millisecond as shared5, for "leaf_moved_to_other_batch"
        )
        let personalBodies = (0..<3).map { Array("Dear friend \($0), see you on Friday.".utf8) }
        let template = Array("Dear {name}, see you on Friday.".utf8)
        let personal3 = try seal(
            random,
            kind: .personalised,
            from: alice,
            to: Array(people[2..<5]),
            bodies: personalBodies,
            senderBody: template,
            offset: 3
        )
        let personal1Body = [UInt8]()
        let personal1 = try seal(
            random,
            kind: .personalised,
            from: TestKeys.bob,
            to: [alice],
            bodies: [personal1Body],
            senderBody: Array("empty note".utf8),
            offset: 4
        )
        let selfBody = Array("to myself and a friend".utf8)
        let sharedSelf = try seal(
            random,
            kind: .shared,
            from: alice,
            to: [alice, people[0], alice],
            bodies: [selfBody],
            senderBody: selfBody,
            offset: 5
        )

        let valids = [
            valid(
                "shared_5_recipients",
                shared5,
                sender: alice,
                recipients: Array(people[0..<5]),
                bodies: [invite],
                senderBody: invite
            ),
            valid(
                "shared_1_recipient",
                shared1,
                sender: alice,
                recipients: [people[0]],
                bodies: [invite],
                senderBody: invite
            ),
            valid(
                "shared_6_recipients_binary_body",
                shared6,
                sender: alice,
                recipients: Array(people[1..<7]),
                bodies: [shared6Body],
                senderBody: shared6Body
            ),
            valid(
                "personalised_3_recipients",
                personal3,
                sender: alice,
                recipients: Array(people[2..<5]),
                bodies: personalBodies,
                senderBody: template
            ),
            valid(
                "personalised_1_recipient_empty_body",
                personal1,
                sender: TestKeys.bob,
                recipients: [alice],
                bodies: [personal1Body],
                senderBody: Array("empty note".utf8)
            ),
            valid(
                "shared_to_self_twice_and_a_friend",
                sharedSelf,
                sender: alice,
                recipients: [alice, people[0], alice],
                bodies: [selfBody],
                senderBody: selfBody
            ),
        ]
        return BatchVectorFile(
            about: "Mailroom batch envelope (format v2) test vectors. Layout, signed message, Merkle tree and reason "
                + "codes: docs/ENVELOPE.md, \"Batch envelopes (format v2)\". Private keys are Textile key strings. "
                + "Every recipient record_hex and every sender_copy_hex must verify alone and open with the matching "
                + "private key to its plaintext; invalid values must be rejected with the given reason (part "
                + "'recipient': as a recipient record; 'sender': as a sender's copy; default limits). "
                + "portable_records: record format v2 (\"Portable batch records\"): binary_hex parses to kind, value "
                + "and read_at, json is the API's wrapper, and the record verifies and opens for owner_private_key "
                + "to plaintext_hex; invalid_portable_records fail at their stage (parse, verify, or open with "
                + "identity_private_key) with the given reason.",
            max_body_bytes: BatchLimits().maxBodyBytes,
            max_recipients: BatchLimits.formatMaxRecipients,
            signature_domain_hex: hex(BatchLayout.signatureDomain),
            reason_codes: EnvelopeError.Code.batchVerificationCodes.map(\.reason),
            valid: valids,
            invalid: invalid(shared5: shared5, shared6: shared6, personal3: personal3, sender: alice),
            portable_records: portableRecords(
                shared5: shared5,
                shared5Recipients: Array(people[0..<5]),
                personal3: personal3,
                personal3Recipients: Array(people[2..<5]),
                sharedSelf: sharedSelf,
                sender: alice
            ),
            invalid_portable_records: invalidPortableRecords(shared5: shared5, personal3: personal3)
        )
    }

    static func invalid(
        shared5: BatchEnvelope,
        shared6: BatchEnvelope,
        personal3: BatchEnvelope,
        sender: Identity
    ) -> [BatchVectorFile.Invalid] {
        typealias L = BatchLayout
        var out: [BatchVectorFile.Invalid] = []
        func add(_ name: String, _ part: String, _ reason: EnvelopeError.Code, _ description: String, _ v: [UInt8]) {
            out.append(
                .init(name: name, description: description, part: part, reason: reason.reason, value_hex: hex(v))
            )
        }
        func patched(_ bytes: [UInt8], _ edits: [(Int, [UInt8])]) -> [UInt8] {
            var copy = bytes
            for (offset, replacement) in edits {
                copy.replaceSubrange(offset..<offset + replacement.count, with: replacement)
            }
            return copy
        }
        func flip(_ bytes: [UInt8], _ offset: Int) -> [UInt8] { patched(bytes, [(offset, [bytes[offset] ^ 0x01])]) }
        func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * (3 - $0))) } }
        func i64(_ v: Int64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * (7 - $0))) } }
        /// A recipient record rebuilt from its parts, so lengths stay consistent.
        func assemble(
            head: [UInt8],
            index: Int,
            recipient: [UInt8],
            id: [UInt8],
            createdAt: Int64,
            item: [UInt8],
            path: [[UInt8]],
            payload: [UInt8]
        ) -> [UInt8] {
            var v = head + [L.recipientPart] + u32(index) + recipient + id + i64(createdAt) + u32(item.count) + item
            v += [UInt8(path.count)] + path.flatMap { $0 } + u32(payload.count) + payload
            return v
        }
        func resigned(_ value: [UInt8], domain: [UInt8] = L.signatureDomain) -> [UInt8] {
            let message = domain + value[0..<L.headerBytes] + value[L.rootOffset..<L.rootOffset + 32]
            var signature = [UInt8](repeating: 0, count: 64)
            message.withUnsafeBytes { m in signature.withUnsafeMutableBytes { sender.sign(m, into: $0.baseAddress!) } }
            return patched(value, [(L.signatureOffset, signature)])
        }

        let r1 = shared5.recipientEnvelope(at: 1)
        let r2 = shared5.recipientEnvelope(at: 2)
        let good = r1.serialized()
        let head = r1.head
        func rebuilt(
            head h: [UInt8]? = nil,
            index: Int? = nil,
            recipient: [UInt8]? = nil,
            id: [UInt8]? = nil,
            createdAt: Int64? = nil,
            item: [UInt8]? = nil,
            path: [[UInt8]]? = nil,
            payload: [UInt8]? = nil
        ) -> [UInt8] {
            assemble(
                head: h ?? head,
                index: index ?? r1.index,
                recipient: recipient ?? r1.recipient.bytes,
                id: id ?? r1.messageID.bytes,
                createdAt: createdAt ?? r1.createdAtMilliseconds,
                item: item ?? r1.item,
                path: path ?? r1.path,
                payload: payload ?? r1.payload
            )
        }
        #if DEBUG
        precondition(rebuilt() == good)
        #endif
        let itemEnd = L.itemOffset + r1.item.count
        let payloadStart = good.count - r1.payload.count

        // Structure.
        add("empty", "recipient", .truncated, "no bytes at all", [])
        add(
            "version_1",
            "recipient",
            .unsupportedVersion,
            "version byte 1 (an envelope v1 parser's input)",
            patched(good, [(0, [1])])
        )
        add("version_3", "recipient", .unsupportedVersion, "version byte 3", patched(good, [(0, [3])]))
        add("cut_in_head", "recipient", .truncated, "cut inside the header (100 bytes)", Array(good[0..<100]))
        add("head_only", "recipient", .truncated, "the head and no part type (254 bytes)", Array(good[0..<L.headBytes]))
        add("kind_3", "recipient", .invalidBatch, "kind byte 3", patched(good, [(L.kindOffset, [3])]))
        add(
            "count_0",
            "recipient",
            .invalidBatch,
            "recipient_count 0",
            patched(good, [(L.recipientCountOffset, u32(0))])
        )
        add(
            "count_10001",
            "recipient",
            .batchTooLarge,
            "recipient_count 10,001",
            patched(good, [(L.recipientCountOffset, u32(10_001))])
        )
        add(
            "count_max_u32",
            "recipient",
            .batchTooLarge,
            "recipient_count 0xffffffff",
            patched(good, [(L.recipientCountOffset, u32(0xffff_ffff))])
        )
        add(
            "personalised_with_payload_hash",
            "recipient",
            .invalidBatch,
            "a personalised header whose payload_hash is not zero",
            patched(personal3.recipientEnvelope(at: 0).serialized(), [(L.payloadHashOffset, [1])])
        )
        add(
            "personalised_with_ephemeral_key",
            "recipient",
            .invalidBatch,
            "a personalised header whose ephemeral_public is not zero",
            patched(personal3.recipientEnvelope(at: 0).serialized(), [(L.ephemeralPublicOffset + 31, [1])])
        )
        add(
            "batch_created_at_plus_1ms",
            "recipient",
            .invalidMessageID,
            "header created_at one ms after the batch id's time",
            patched(good, [(L.createdAtOffset, i64(r1.createdAtMilliseconds + 1))])
        )
        add(
            "part_type_2",
            "recipient",
            .invalidBatch,
            "part type 2 (a sender's copy) read as a recipient record",
            patched(good, [(L.partOffset, [2])])
        )
        add("part_type_0", "recipient", .invalidBatch, "part type 0", patched(good, [(L.partOffset, [0])]))
        add(
            "cut_in_fixed_fields",
            "recipient",
            .truncated,
            "cut before the item length",
            Array(good[0..<L.itemLengthOffset + 2])
        )
        add(
            "message_created_at_differs",
            "recipient",
            .invalidMessageID,
            "the message's created_at one ms after the batch's",
            rebuilt(createdAt: r1.createdAtMilliseconds + 1)
        )
        do {
            var id = r1.messageID.bytes
            id[5] ^= 0x01
            add(
                "message_id_time_differs",
                "recipient",
                .invalidMessageID,
                "the message id's time differs from created_at",
                rebuilt(id: id)
            )
        }
        add(
            "wrapped_key_47_bytes",
            "recipient",
            .invalidCiphertextLength,
            "a 47-byte wrapped key, consistently framed",
            rebuilt(item: Array(r1.item.dropLast()))
        )
        add(
            "wrapped_key_49_bytes",
            "recipient",
            .invalidCiphertextLength,
            "a 49-byte wrapped key",
            rebuilt(item: r1.item + [0])
        )
        let p0 = personal3.recipientEnvelope(at: 0)
        let pGood = p0.serialized()
        add(
            "personalised_item_10_bytes",
            "recipient",
            .invalidCiphertextLength,
            "a 10-byte sealed body",
            assemble(
                head: p0.head,
                index: 0,
                recipient: p0.recipient.bytes,
                id: p0.messageID.bytes,
                createdAt: p0.createdAtMilliseconds,
                item: Array(p0.item[0..<10]),
                path: p0.path,
                payload: []
            )
        )
        add(
            "personalised_item_over_64k",
            "recipient",
            .bodyTooLarge,
            "item_len declares a 65,537-byte body (checked before the bytes are read)",
            patched(pGood, [(L.itemLengthOffset, u32(65_537 + 72))])
        )
        add(
            "personalised_with_payload",
            "recipient",
            .invalidCiphertextLength,
            "a personalised record carrying a payload",
            assemble(
                head: p0.head,
                index: 0,
                recipient: p0.recipient.bytes,
                id: p0.messageID.bytes,
                createdAt: p0.createdAtMilliseconds,
                item: p0.item,
                path: p0.path,
                payload: r1.payload
            )
        )
        add("cut_in_item", "recipient", .truncated, "cut inside the wrapped key", Array(good[0..<L.itemOffset + 20]))
        add("cut_in_path", "recipient", .truncated, "cut inside the path", Array(good[0..<itemEnd + 1 + 40]))
        add(
            "payload_39_bytes",
            "recipient",
            .invalidCiphertextLength,
            "a shared payload shorter than nonce and tag",
            rebuilt(payload: Array(r1.payload[0..<39]))
        )
        add(
            "payload_over_64k",
            "recipient",
            .bodyTooLarge,
            "payload_len declares a 65,537-byte body",
            patched(good, [(payloadStart - 4, u32(65_537 + 40))])
        )
        add("cut_in_payload", "recipient", .truncated, "last payload byte missing", Array(good.dropLast()))
        add("trailing_byte", "recipient", .trailingBytes, "one zero byte after the payload", good + [0])
        let smallOrder = [UInt8](repeating: 0, count: 32)
        add(
            "sender_small_order",
            "recipient",
            .invalidSenderKey,
            "sender key is 32 zero bytes",
            patched(good, [(L.senderOffset, smallOrder)])
        )
        add(
            "recipient_small_order",
            "recipient",
            .invalidRecipientKey,
            "recipient key is 32 zero bytes",
            patched(good, [(L.recipientOffset, smallOrder)])
        )

        // The shared payload.
        add(
            "payload_flipped",
            "recipient",
            .payloadMismatch,
            "a byte of the shared payload changed",
            flip(good, payloadStart + 30)
        )
        add(
            "payload_swapped",
            "recipient",
            .payloadMismatch,
            "the payload of another batch (same sender) in its place",
            rebuilt(payload: shared6.sharedPayload)
        )

        // The Merkle path.
        add(
            "leaf_moved_to_other_batch",
            "recipient",
            .badMerklePath,
            "recipient 1's entry, path and payload under the head of another batch by the same sender",
            rebuilt(head: shared6.recipientEnvelope(at: 0).head, payload: shared6.sharedPayload)
        )
        add(
            "path_from_other_leaf",
            "recipient",
            .badMerklePath,
            "recipient 1's entry with recipient 2's path",
            rebuilt(path: r2.path)
        )
        add(
            "truncated_path",
            "recipient",
            .badMerklePath,
            "the last sibling dropped",
            rebuilt(path: Array(r1.path.dropLast()))
        )
        add(
            "extra_sibling",
            "recipient",
            .badMerklePath,
            "one sibling too many (a copy of the last)",
            rebuilt(path: r1.path + [r1.path.last!])
        )
        add("empty_path", "recipient", .badMerklePath, "no siblings at all", rebuilt(path: []))
        add("reindexed", "recipient", .badMerklePath, "index 1 changed to 3, path kept", rebuilt(index: 3))
        add("index_out_of_range", "recipient", .badMerklePath, "index 5 in a batch of 5", rebuilt(index: 5))
        add("sibling_flipped", "recipient", .badMerklePath, "a byte of a sibling changed", flip(good, itemEnd + 1 + 33))
        add(
            "wrapped_key_flipped",
            "recipient",
            .badMerklePath,
            "a byte of the wrapped key changed",
            flip(good, L.itemOffset + 3)
        )
        add(
            "readdressed",
            "recipient",
            .badMerklePath,
            "recipient replaced by another valid key",
            rebuilt(recipient: TestKeys.alice.publicKey.bytes)
        )
        add(
            "message_id_random_changed",
            "recipient",
            .badMerklePath,
            "the random part of the message id changed",
            flip(good, L.messageIDOffset + 12)
        )
        add("root_flipped", "recipient", .badMerklePath, "a byte of the root changed", flip(good, L.rootOffset))
        add(
            "personalised_body_flipped",
            "recipient",
            .badMerklePath,
            "a byte of a personalised sealed body changed",
            flip(pGood, L.itemOffset + 40)
        )

        // The signature.
        add(
            "signature_flipped",
            "recipient",
            .badSignature,
            "last signature byte changed",
            flip(good, L.signatureOffset + 63)
        )
        add(
            "signature_zero",
            "recipient",
            .badSignature,
            "all-zero signature",
            patched(good, [(L.signatureOffset, [UInt8](repeating: 0, count: 64))])
        )
        add(
            "signature_of_other_batch",
            "recipient",
            .badSignature,
            "another batch's signature by the same sender",
            patched(good, [(L.signatureOffset, shared6.signature)])
        )
        add(
            "wrong_domain",
            "recipient",
            .badSignature,
            "signed by the sender over envelope v1's domain (mailroom/envelope/v1 NUL) instead of the batch domain",
            resigned(good, domain: EnvelopeLayout.domain)
        )
        add(
            "ephemeral_key_flipped",
            "recipient",
            .badSignature,
            "a byte of the ephemeral public key changed",
            flip(good, L.ephemeralPublicOffset + 5)
        )
        add(
            "sender_copy_hash_flipped",
            "recipient",
            .badSignature,
            "a byte of sender_copy_hash changed",
            flip(good, L.senderCopyHashOffset + 5)
        )
        add(
            "resent_as_someone_else",
            "recipient",
            .badSignature,
            "sender replaced by another valid key",
            patched(good, [(L.senderOffset, TestKeys.carol.publicKey.bytes)])
        )
        do {
            let r0 = shared5.recipientEnvelope(at: 0).serialized()
            add(
                "count_changed_path_still_fits",
                "recipient",
                .badSignature,
                "recipient 0 of 5 with recipient_count 6: the same path leads to the same root, the header no longer matches the signature",
                patched(r0, [(L.recipientCountOffset, u32(6))])
            )
        }
        // The sender's copy.
        let copy = shared5.senderCopy.serialized()
        let copyStart = L.senderCopyOffset
        let copyEnd = copyStart + shared5.senderCopy.senderCiphertext.count
        add(
            "sender_copy_as_recipient_record",
            "recipient",
            .invalidBatch,
            "a sender's copy given as a recipient record",
            copy
        )
        add(
            "recipient_record_as_sender_copy",
            "sender",
            .invalidBatch,
            "a recipient record given as a sender's copy",
            good
        )
        add("sender_copy_cut_in_list", "sender", .truncated, "the last list entry cut short", Array(copy.dropLast(10)))
        add("sender_copy_extra_entry", "sender", .trailingBytes, "an 81st byte after the last list entry", copy + [0])
        add(
            "sender_copy_short",
            "sender",
            .invalidCiphertextLength,
            "sender_ct_len 10",
            Array(copy[0..<L.senderCopyLengthOffset]) + u32(10) + Array(copy[copyStart..<copyStart + 10])
                + Array(copy[copyEnd...])
        )
        add(
            "sender_copy_id_time",
            "sender",
            .invalidMessageID,
            "a listed message id's time changed",
            flip(copy, copyEnd + 80 + 32 + 5)
        )
        add(
            "sender_copy_recipient_small_order",
            "sender",
            .invalidRecipientKey,
            "a listed recipient key is 32 zero bytes",
            patched(copy, [(copyEnd + 80, smallOrder)])
        )
        add(
            "sender_copy_ct_flipped",
            "sender",
            .payloadMismatch,
            "a byte of the sender's sealed copy changed",
            flip(copy, copyStart + 50)
        )
        add(
            "sender_copy_item_hash_flipped",
            "sender",
            .badMerklePath,
            "a listed item hash changed",
            flip(copy, copyEnd + 80 + 48)
        )
        do {
            var swapped = copy
            let a = copyEnd
            let b = copyEnd + 80
            swapped.replaceSubrange(a..<a + 80, with: copy[b..<b + 80])
            swapped.replaceSubrange(b..<b + 80, with: copy[a..<a + 80])
            add("sender_copy_entries_swapped", "sender", .badMerklePath, "the first two list entries swapped", swapped)
        }
        add(
            "sender_copy_signature_flipped",
            "sender",
            .badSignature,
            "a signature byte changed",
            flip(copy, L.signatureOffset + 10)
        )
        return out
    }

    static func encode(_ file: BatchVectorFile) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(file) + Data("\n".utf8)
    }

    /// The source-tree location of the vector file (for regeneration).
    static var sourcePath: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Vectors/batch-envelopes.json")
    }
}
