import Foundation

@testable import MailroomCore

/// The record test vector file (Vectors/records.json), for readers in other languages.
struct RecordVectorFile: Codable, Equatable {
    struct Valid: Codable, Equatable {
        var name: String
        var kind: String
        var owner_private_key: String
        var plaintext_hex: String
        var binary_hex: String
        var json_text: String
    }

    struct Invalid: Codable, Equatable {
        var name: String
        var description: String
        var reason: String
        var binary_hex: String?
        var json_text: String?
    }

    var about: String
    var max_body_bytes: Int
    var valid: [Valid]
    var invalid: [Invalid]
}

/// Builds records.json from the valid envelopes of envelopes.json: nothing random, so it reproduces exactly.
enum RecordVectorGenerator {
    static func generate(from envelopes: EnvelopeVectorFile) throws -> RecordVectorFile {
        var valid: [RecordVectorFile.Valid] = []
        var records: [String: MessageRecord] = [:]
        for (index, vector) in envelopes.valid.enumerated() {
            let envelope = try Envelope.verify(unhex(vector.envelope_hex))
            for kind in MessageRecord.Kind.allCases {
                var record = MessageRecord(envelope, kind: kind)
                // Every other inbox record has been read, a whole second after it was sent.
                if kind == .inbox && index % 2 == 1 {
                    record.readAtMilliseconds = envelope.createdAtMilliseconds + 1000
                }
                let name = "\(vector.name)_\(kind.name)"
                records[name] = record
                valid.append(
                    .init(
                        name: name,
                        kind: kind.name,
                        owner_private_key: kind == .inbox ? vector.recipient_private_key : vector.sender_private_key,
                        plaintext_hex: vector.plaintext_hex,
                        binary_hex: hex(try! record.binary()),
                        json_text: record.json()
                    )
                )
            }
        }
        // The same inbox record as the first, now read: metadata is outside the signature.
        let first = envelopes.valid[0]
        var read = records["\(first.name)_inbox"]!
        read.readAtMilliseconds = read.createdAtMilliseconds + 60_000
        valid.append(
            .init(
                name: "\(first.name)_inbox_read_later",
                kind: "inbox",
                owner_private_key: first.recipient_private_key,
                plaintext_hex: first.plaintext_hex,
                binary_hex: hex(try! read.binary()),
                json_text: read.json()
            )
        )

        let inbox = records["\(first.name)_inbox"]!
        let sentbox = records["\(first.name)_sentbox"]!
        let other = records["\(envelopes.valid[1].name)_inbox"]!
        let carol = TestKeys.carol.publicKey
        var invalid: [RecordVectorFile.Invalid] = []

        func both(_ name: String, _ reason: EnvelopeError.Code, _ description: String, _ record: MessageRecord) {
            invalid.append(
                .init(
                    name: name,
                    description: description,
                    reason: reason.reason,
                    binary_hex: hex(try! record.binary())
                )
            )
            invalid.append(
                .init(name: name + "_json", description: description, reason: reason.reason, json_text: record.json())
            )
        }
        func binary(_ name: String, _ reason: EnvelopeError.Code, _ description: String, _ bytes: [UInt8]) {
            invalid.append(.init(name: name, description: description, reason: reason.reason, binary_hex: hex(bytes)))
        }
        func json(_ name: String, _ reason: EnvelopeError.Code, _ description: String, _ text: String) {
            invalid.append(.init(name: name, description: description, reason: reason.reason, json_text: text))
        }
        func edited(_ edit: (inout MessageRecord) -> Void) -> MessageRecord {
            var record = inbox
            edit(&record)
            return record
        }
        func flipped(_ bytes: [UInt8], at index: Int) -> [UInt8] {
            var out = bytes
            out[index] ^= 0x01
            return out
        }
        func patched(_ bytes: [UInt8], at offset: Int, _ replacement: [UInt8]) -> [UInt8] {
            var out = bytes
            out.replaceSubrange(offset..<offset + replacement.count, with: replacement)
            return out
        }

        // Each signed field altered.
        both(
            "id_random_part_changed",
            .badSignature,
            "one bit of the id's random part flipped",
            edited { $0.id = try! MessageID(bytes: flipped($0.id.bytes, at: 15)) }
        )
        both(
            "id_time_changed",
            .invalidMessageID,
            "the id's time moved by 1 ms, created_at left alone",
            edited { $0.id = try! MessageID(bytes: flipped($0.id.bytes, at: 5)) }
        )
        both(
            "created_at_changed",
            .invalidMessageID,
            "created_at one millisecond later than the id's time",
            edited { $0.createdAtMilliseconds += 1 }
        )
        both(
            "redated",
            .badSignature,
            "the id's time and created_at both moved by 1 ms, consistently",
            edited {
                $0.id = try! MessageID(bytes: flipped($0.id.bytes, at: 5))
                $0.createdAtMilliseconds = $0.id.milliseconds
            }
        )
        both("sender_replaced", .badSignature, "the sender is another valid key", edited { $0.sender = carol })
        both("recipient_replaced", .badSignature, "the recipient is another valid key", edited { $0.recipient = carol })
        both(
            "ciphertext_flipped",
            .badSignature,
            "one bit of the owner's copy flipped",
            edited { $0.ciphertext = flipped($0.ciphertext, at: 40) }
        )
        both(
            "other_hash_flipped",
            .badSignature,
            "one bit of the other copy's hash flipped",
            edited { $0.otherCiphertextHash = flipped($0.otherCiphertextHash, at: 0) }
        )
        both(
            "signature_flipped",
            .badSignature,
            "one bit of the signature flipped",
            edited { $0.signature = flipped($0.signature, at: 63) }
        )
        both(
            "signature_of_another_message",
            .badSignature,
            "the signature of another message by the same sender",
            edited { $0.signature = other.signature }
        )
        both(
            "inbox_relabelled_sentbox",
            .badSignature,
            "an inbox record with its kind set to sentbox",
            edited { $0.kind = .sentbox }
        )
        var swapped = sentbox
        swapped.kind = .inbox
        both("sentbox_relabelled_inbox", .badSignature, "a sentbox record with its kind set to inbox", swapped)

        // Keys and lengths.
        let good = try! inbox.binary()
        binary(
            "sender_small_order",
            .invalidSenderKey,
            "the sender key is 32 zero bytes (small order)",
            patched(good, at: 23, [UInt8](repeating: 0, count: 32))
        )
        var offCurve = [2] + [UInt8](repeating: 0, count: 31)
        while SodiumSign.curvePublicKey(for: Bytes32(offCurve)!) != nil { offCurve[0] += 1 }
        binary(
            "recipient_off_curve",
            .invalidRecipientKey,
            "the recipient key is not on the curve",
            patched(good, at: 55, offCurve)
        )
        both(
            "ciphertext_shorter_than_box",
            .invalidCiphertextLength,
            "a 71-byte copy",
            edited { $0.ciphertext = Array($0.ciphertext.prefix(71)) }
        )
        both(
            "body_over_64k",
            .bodyTooLarge,
            "a copy holding 65,537 bytes of body",
            edited { $0.ciphertext = [UInt8](repeating: 7, count: 65_537 + 72) }
        )
        json(
            "other_hash_31_bytes",
            .invalidFieldLength,
            "other_ciphertext_hash decodes to 31 bytes",
            edited { $0.otherCiphertextHash.removeLast() }.json()
        )
        json(
            "signature_65_bytes",
            .invalidFieldLength,
            "signature decodes to 65 bytes",
            edited { $0.signature.append(0) }.json()
        )

        // Binary structure.
        binary("empty", .invalidRecord, "no bytes", [])
        binary("magic_wrong", .invalidRecord, "starts 'mred'", patched(good, at: 3, [UInt8(ascii: "d")]))
        binary(
            "envelope_not_record",
            .invalidRecord,
            "an envelope (version byte 1) where a record belongs",
            unhex(first.envelope_hex)
        )
        binary("magic_only", .invalidRecord, "the magic and nothing else", Array("mrec".utf8))
        binary("record_version_2", .unsupportedRecordVersion, "record version 2", patched(good, at: 4, [2]))
        binary("header_only", .invalidRecord, "the first 99 bytes", Array(good.prefix(99)))
        binary("kind_3", .invalidRecord, "kind 3", patched(good, at: 5, [3]))
        binary("envelope_version_2", .invalidRecord, "envelope version 2", patched(good, at: 6, [2]))
        binary(
            "ciphertext_len_past_end",
            .invalidRecord,
            "ciphertext_len one more than the bytes hold",
            patched(good, at: 95, u32(inbox.ciphertext.count + 1))
        )
        binary(
            "ciphertext_len_short",
            .invalidRecord,
            "ciphertext_len one less: the record does not end where it should",
            patched(good, at: 95, u32(inbox.ciphertext.count - 1))
        )
        binary(
            "metadata_flag_unknown",
            .invalidRecord,
            "metadata flag bit 1 set",
            patched(good, at: good.count - 1, [0x02])
        )
        binary(
            "read_at_missing",
            .invalidRecord,
            "metadata flag bit 0 set, no read_at",
            patched(good, at: good.count - 1, [0x01])
        )
        binary("trailing_byte", .invalidRecord, "one byte after the metadata", good + [0])

        // JSON structure.
        let text = inbox.json()
        func replacing(_ old: String, _ new: String) -> String {
            precondition(text.contains(old), "vector edit \(old) not found")
            return text.replacingOccurrences(of: old, with: new)
        }
        let signatureText = Base64URL.encode(inbox.signature)
        let createdAtText = "\"created_at_ms\":\(inbox.createdAtMilliseconds)"
        json("json_not_json", .invalidRecord, "not JSON at all", "mrec")
        let v2 = "{\"format\":\"mailroom.record.v2\","
        json(
            "json_v2_nested_15_deep",
            .unsupportedRecordVersion,
            "a later version whose member nests to depth 15 (allowed)",
            v2 + "\"x\":" + String(repeating: "[", count: 14) + "1" + String(repeating: "]", count: 14) + "}"
        )
        json(
            "json_v2_nested_16_deep",
            .invalidRecord,
            "a value at depth 16: deeper than readers go",
            v2 + "\"x\":" + String(repeating: "[", count: 15) + "1" + String(repeating: "]", count: 15) + "}"
        )
        json(
            "json_v2_names_equivalent_not_equal",
            .unsupportedRecordVersion,
            "two member names that are canonically equivalent but differ in code points are two names",
            v2 + "\"\u{E9}\":1,\"e\u{301}\":2}"
        )
        json(
            "json_v2_number_4301_characters",
            .invalidRecord,
            "a number token longer than 4,300 characters",
            v2 + "\"x\":" + String(repeating: "7", count: 4301) + "}"
        )
        json("json_bom", .invalidRecord, "a byte order mark before the object", "\u{FEFF}" + text)
        json(
            "json_integer_too_large",
            .invalidRecord,
            "created_at_ms beyond signed 64 bits",
            replacing(createdAtText, "\"created_at_ms\":9223372036854775808")
        )
        json(
            "json_lone_surrogate",
            .invalidRecord,
            "a string with a lone \\ud800 escape",
            replacing("\"kind\":\"inbox\"", "\"kind\":\"inbox\\ud800\"")
        )
        json("json_array", .invalidRecord, "an array, not an object", "[\(text)]")
        json("json_truncated", .invalidRecord, "the text cut before its last brace", String(text.dropLast()))
        json(
            "json_duplicate_member",
            .invalidRecord,
            "kind given twice",
            replacing("\"kind\":\"inbox\",", "\"kind\":\"inbox\",\"kind\":\"inbox\",")
        )
        json(
            "json_unknown_member",
            .invalidRecord,
            "an extra top-level member",
            replacing("{\"format\"", "{\"extra\":1,\"format\"")
        )
        json(
            "json_unknown_metadata_member",
            .invalidRecord,
            "an extra member in metadata",
            replacing("{\"read_at_ms\":null}", "{\"read_at_ms\":null,\"starred\":true}")
        )
        json(
            "json_missing_signature",
            .invalidRecord,
            "no signature member",
            replacing(",\"signature\":\"\(signatureText)\"", "")
        )
        json(
            "json_missing_metadata",
            .invalidRecord,
            "no metadata member",
            replacing(",\"metadata\":{\"read_at_ms\":null}", "")
        )
        json(
            "json_format_v2",
            .unsupportedRecordVersion,
            "format mailroom.record.v2",
            replacing("mailroom.record.v1", "mailroom.record.v2")
        )
        json(
            "json_format_v10",
            .unsupportedRecordVersion,
            "format mailroom.record.v10",
            replacing("mailroom.record.v1\"", "mailroom.record.v10\"")
        )
        json(
            "json_format_v0",
            .invalidRecord,
            "format mailroom.record.v0 (versions start at 1)",
            replacing("mailroom.record.v1", "mailroom.record.v0")
        )
        json(
            "json_format_v01",
            .invalidRecord,
            "format mailroom.record.v01 (a leading zero)",
            replacing("mailroom.record.v1", "mailroom.record.v01")
        )
        json(
            "json_format_v_plus_2",
            .invalidRecord,
            "format mailroom.record.v+2 (not digits)",
            replacing("mailroom.record.v1", "mailroom.record.v+2")
        )
        json(
            "json_format_other",
            .invalidRecord,
            "format mailroom.envelope.v1",
            replacing("mailroom.record.v1", "mailroom.envelope.v1")
        )
        json("json_kind_unknown", .invalidRecord, "kind outbox", replacing("\"kind\":\"inbox\"", "\"kind\":\"outbox\""))
        json(
            "json_envelope_version_2",
            .invalidRecord,
            "envelope_version 2",
            replacing("\"envelope_version\":1", "\"envelope_version\":2")
        )
        json(
            "json_created_at_fraction",
            .invalidRecord,
            "created_at_ms written with a fraction",
            replacing(createdAtText, createdAtText + ".0")
        )
        json(
            "json_created_at_exponent",
            .invalidRecord,
            "created_at_ms written with an exponent",
            replacing(createdAtText, "\"created_at_ms\":1.7672256e12")
        )
        json(
            "json_created_at_string",
            .invalidRecord,
            "created_at_ms as a string",
            replacing(createdAtText, "\"created_at_ms\":\"\(inbox.createdAtMilliseconds)\"")
        )
        json(
            "json_read_at_string",
            .invalidRecord,
            "read_at_ms as a string",
            replacing("{\"read_at_ms\":null}", "{\"read_at_ms\":\"never\"}")
        )
        json(
            "json_base64_padding",
            .invalidRecord,
            "the signature with base64 padding",
            replacing(signatureText, signatureText + "==")
        )
        json(
            "json_base64_standard_alphabet",
            .invalidRecord,
            "the ciphertext in the standard alphabet (+ and /)",
            text.replacingOccurrences(
                of: Base64URL.encode(inbox.ciphertext),
                with: Data(inbox.ciphertext).base64EncodedString()
                    .replacingOccurrences(of: "=", with: "")
            )
        )
        json(
            "json_base64_nonzero_padding_bits",
            .invalidRecord,
            "the signature's unused low bits are not zero",
            replacing(signatureText, String(signatureText.dropLast()) + nonCanonicalLast(signatureText.last!))
        )
        json(
            "json_id_not_ulid",
            .invalidRecord,
            "an id with the letter u",
            replacing("\"id\":\"\(inbox.id)\"", "\"id\":\"\(String(inbox.id.description.dropLast()))u\"")
        )
        json(
            "json_sender_not_a_key",
            .invalidSenderKey,
            "the sender is 64 hex digits of a point off the curve",
            replacing(inbox.sender.textileString, hex(offCurve))
        )
        json(
            "json_recipient_bad_string",
            .invalidRecipientKey,
            "the recipient is not a key string",
            replacing(inbox.recipient.textileString, "bbaareinotakey")
        )
        let file = RecordVectorFile(
            about: """
                Mailroom portable message records (docs/ENVELOPE.md, "Portable message records"). valid: each record \
                in binary (binary_hex) and JSON (json_text, the exact text a writer produces) form; both parse to the \
                same record, verify, re-encode to the same bytes and text, and open with owner_private_key to \
                plaintext_hex. invalid: a record in one form and the reason a reader reports first.
                """,
            max_body_bytes: EnvelopeLimits().maxBodyBytes,
            valid: valid,
            invalid: invalid
        )
        return file
    }

    /// The base64url digit after `c` whose low 4 bits differ: for a 64-byte value the last digit carries 4 unused
    /// bits, so any change of its low 4 bits sets one.
    private static func nonCanonicalLast(_ c: Character) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let index = alphabet.firstIndex(of: c)!
        return String(alphabet[(index & ~0x0f) | ((index + 1) & 0x0f)])
    }

    private static func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * (3 - $0))) } }

    static func encode(_ file: RecordVectorFile) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(file) + Data("\n".utf8)
    }

    static var sourcePath: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Vectors/records.json")
    }
}
