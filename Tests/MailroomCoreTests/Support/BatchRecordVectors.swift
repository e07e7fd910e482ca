import MailroomTestSupport

@testable import MailroomCore

extension BatchVectorFile {
    /// A portable batch record (record format v2) as a device receives it.
    struct PortableBatchRecord: Codable, Equatable {
        var name: String
        /// `inbox` (a recipient record) or `sentbox` (a sender's copy).
        var kind: String
        /// The id the entry is listed under: the recipient's message id (inbox) or the batch id (sentbox).
        var id: String
        var read_at_ms: Int64?
        var value_hex: String
        /// `mrec` | 0x02 | kind | value_len | value | metadata_flags | read_at?
        var binary_hex: String
        /// The JSON form the HTTP API's pages carry (`PortableRecord.json()`).
        var json: String
        var owner_private_key: String
        var plaintext_hex: String
    }

    /// A portable batch record a reader refuses.
    struct InvalidPortableBatchRecord: Codable, Equatable {
        var name: String
        var description: String
        /// `parse` (the binary form), `verify` (the value) or `open` (with `identity_private_key`).
        var stage: String
        var reason: String
        var binary_hex: String
        var identity_private_key: String?
    }
}

extension BatchVectorGenerator {
    static let readAt: Int64 = 1_767_225_700_123

    static func portableRecords(
        shared5: BatchEnvelope,
        shared5Recipients: [Identity],
        personal3: BatchEnvelope,
        personal3Recipients: [Identity],
        sharedSelf: BatchEnvelope,
        sender: Identity
    ) -> [BatchVectorFile.PortableBatchRecord] {
        func inbox(
            _ name: String,
            _ batch: BatchEnvelope,
            _ index: Int,
            _ owner: Identity,
            _ plaintext: [UInt8],
            readAt: Int64?
        ) -> BatchVectorFile.PortableBatchRecord {
            let envelope = batch.recipientEnvelope(at: index)
            let record = BatchMessageRecord(envelope, readAtMilliseconds: readAt)
            return .init(
                name: name,
                kind: "inbox",
                id: envelope.messageID.description,
                read_at_ms: readAt,
                value_hex: hex(record.value),
                binary_hex: hex(record.binary()),
                json: PortableRecord.batch(record, id: envelope.messageID).json(),
                owner_private_key: owner.exportTextileString(),
                plaintext_hex: hex(plaintext)
            )
        }
        func sentbox(
            _ name: String,
            _ batch: BatchEnvelope,
            _ plaintext: [UInt8]
        ) -> BatchVectorFile.PortableBatchRecord {
            let record = BatchMessageRecord(batch.senderCopy)
            return .init(
                name: name,
                kind: "sentbox",
                id: batch.header.batchID.description,
                read_at_ms: nil,
                value_hex: hex(record.value),
                binary_hex: hex(record.binary()),
                json: PortableRecord.batch(record, id: batch.header.batchID).json(),
                owner_private_key: sender.exportTextileString(),
                plaintext_hex: hex(plaintext)
            )
        }
        let invite = Array("You are invited: Mailroom launch, Friday 18:00.".utf8)
        let selfBody = Array("to myself and a friend".utf8)
        return [
            inbox("shared_5_inbox_0_unread", shared5, 0, shared5Recipients[0], invite, readAt: nil),
            inbox("shared_5_inbox_2_read", shared5, 2, shared5Recipients[2], invite, readAt: readAt),
            sentbox("shared_5_sentbox", shared5, invite),
            inbox(
                "personalised_3_inbox_1_read",
                personal3,
                1,
                personal3Recipients[1],
                Array("Dear friend 1, see you on Friday.".utf8),
                readAt: readAt
            ),
            sentbox("personalised_3_sentbox", personal3, Array("Dear {name}, see you on Friday.".utf8)),
            inbox("shared_to_self_inbox_2", sharedSelf, 2, sender, selfBody, readAt: nil),
            sentbox("shared_to_self_sentbox", sharedSelf, selfBody),
        ]
    }

    static func invalidPortableRecords(
        shared5: BatchEnvelope,
        personal3: BatchEnvelope
    ) -> [BatchVectorFile.InvalidPortableBatchRecord] {
        var out: [BatchVectorFile.InvalidPortableBatchRecord] = []
        func add(
            _ name: String,
            _ stage: String,
            _ reason: EnvelopeError.Code,
            _ description: String,
            _ bytes: [UInt8],
            identity: Identity? = nil
        ) {
            out.append(
                .init(
                    name: name,
                    description: description,
                    stage: stage,
                    reason: reason.reason,
                    binary_hex: hex(bytes),
                    identity_private_key: identity?.exportTextileString()
                )
            )
        }
        let inbox = BatchMessageRecord(shared5.recipientEnvelope(at: 1)).binary()
        let read = BatchMessageRecord(shared5.recipientEnvelope(at: 1), readAtMilliseconds: readAt).binary()
        let sentbox = BatchMessageRecord(personal3.senderCopy).binary()
        func with(_ bytes: [UInt8], _ offset: Int, _ byte: UInt8) -> [UInt8] {
            var copy = bytes
            copy[offset] = byte
            return copy
        }
        add("empty", "parse", .invalidRecord, "no bytes", [])
        add("bad_magic", "parse", .invalidRecord, "'mrex' instead of 'mrec'", with(inbox, 3, UInt8(ascii: "x")))
        add("no_version", "parse", .invalidRecord, "the magic alone", Array(inbox[0..<4]))
        add("version_1", "parse", .unsupportedRecordVersion, "record version 1 on a batch record", with(inbox, 4, 1))
        add("version_3", "parse", .unsupportedRecordVersion, "record version 3", with(inbox, 4, 3))
        add("short", "parse", .invalidRecord, "10 bytes: magic, version, kind, value_len", Array(inbox[0..<10]))
        add("kind_0", "parse", .invalidRecord, "kind 0", with(inbox, 5, 0))
        add("kind_3", "parse", .invalidRecord, "kind 3", with(inbox, 5, 3))
        add("value_past_end", "parse", .invalidRecord, "the last byte (the flags) cut off", Array(inbox.dropLast()))
        add("unknown_flag", "parse", .invalidRecord, "metadata flag bit 1", with(inbox, inbox.count - 1, 0x02))
        add("read_at_missing", "parse", .invalidRecord, "bit 0 set, no read_at", with(inbox, inbox.count - 1, 0x01))
        add("read_at_short", "parse", .invalidRecord, "read_at cut to 7 bytes", Array(read.dropLast()))
        add("trailing_byte", "parse", .invalidRecord, "a byte after the flags", inbox + [0])
        add("inbox_holding_sender_copy", "verify", .invalidBatch, "kind inbox, a sender's copy", with(sentbox, 5, 1))
        add("sentbox_holding_recipient", "verify", .invalidBatch, "kind sentbox, a recipient record", with(inbox, 5, 2))
        add(
            "value_payload_flipped",
            "verify",
            .payloadMismatch,
            "the shared payload's last byte changed",
            with(inbox, inbox.count - 2, inbox[inbox.count - 2] ^ 0x01)
        )
        add(
            "value_signature_flipped",
            "verify",
            .badSignature,
            "a byte of the batch signature changed",
            with(inbox, 10 + BatchLayout.signatureOffset, inbox[10 + BatchLayout.signatureOffset] ^ 0x01)
        )
        add(
            "inbox_opened_by_another",
            "open",
            .notAParty,
            "recipient 1's record opened by the sender",
            inbox,
            identity: TestKeys.alice
        )
        add(
            "sentbox_opened_by_another",
            "open",
            .notAParty,
            "the sender's copy opened by a key that is not the sender's",
            sentbox,
            identity: TestKeys.carol
        )
        return out
    }
}
