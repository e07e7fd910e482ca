import Foundation
import MailroomEd25519
import Testing

@testable import MailroomCore

@Suite("Batch envelope vectors (Vectors/batch-envelopes.json)")
struct BatchVectorTests {
    func load() throws -> BatchVectorFile {
        try JSONDecoder().decode(BatchVectorFile.self, from: vectorData("batch-envelopes.json"))
    }

    @Test(
        "Regenerate the vector file (only with MAILROOM_REGENERATE_VECTORS=1)",
        .enabled(if: ProcessInfo.processInfo.environment["MAILROOM_REGENERATE_VECTORS"] == "1")
    )
    func regenerate() throws {
        try BatchVectorGenerator.encode(BatchVectorGenerator.generate()).write(to: BatchVectorGenerator.sourcePath)
    }

    @Test("The generator reproduces the committed file")
    func reproducible() throws {
        #expect(try BatchVectorGenerator.generate() == load())
    }

    @Test("Every recipient record and sender copy verifies alone, matches its fields and opens")
    func valid() throws {
        let file = try load()
        #expect(file.valid.contains { $0.kind == "shared" && $0.recipient_count == 1 })
        #expect(file.valid.contains { $0.kind == "personalised" && $0.recipient_count == 1 })
        #expect(file.valid.contains { $0.recipient_count > 2 && $0.recipient_count & ($0.recipient_count - 1) != 0 })
        for batch in file.valid {
            let sender = try Identity(textileString: batch.sender_private_key)
            #expect(sender.publicKey.hexString == batch.sender_public_key_hex)
            #expect(batch.signed_message_hex == file.signature_domain_hex + batch.header_hex + batch.root_hex)
            #expect(
                Ed25519Verifier.libsodiumOnly.verify(
                    signature: unhex(batch.signature_hex),
                    message: unhex(batch.signed_message_hex),
                    publicKey: sender.publicKey.bytes
                )
            )
            let copy = try BatchSenderCopy.verify(unhex(batch.sender_copy_hex))
            #expect(hex(copy.header.serialized()) == batch.header_hex, "\(batch.name)")
            #expect(hex(copy.senderCiphertext) == batch.sender_ciphertext_hex)
            #expect(try hex(copy.open(with: sender)) == batch.sender_plaintext_hex)
            #expect(copy.recipients.map(\.key.hexString) == batch.recipients.map(\.public_key_hex))
            let leafHashes = batch.recipients.map { Bytes32(unhex($0.leaf_hash_hex))! }
            #expect(hex(BatchMerkleTree(leafHashes: leafHashes).root.bytes) == batch.root_hex)
            for r in batch.recipients {
                let record = try BatchRecipientEnvelope.verify(unhex(r.record_hex))
                let identity = try Identity(textileString: r.private_key)
                #expect(record.header.kind.name == batch.kind)
                #expect(record.header.batchID.description == batch.batch_id)
                #expect(record.header.createdAtMilliseconds == batch.created_at_ms)
                #expect(record.index == r.index)
                #expect(record.recipient.hexString == r.public_key_hex)
                #expect(record.messageID.description == r.message_id)
                #expect(hex(record.item) == r.item_hex)
                #expect(hex(record.leaf) == r.leaf_hex)
                #expect(hex(BatchLayout.leafHash(record.leaf).bytes) == r.leaf_hash_hex)
                #expect(record.path.map { hex($0) } == r.path_hex)
                #expect(hex(record.payload) == batch.shared_payload_hex)
                #expect(hex(record.root) == batch.root_hex)
                #expect(hex(record.signature) == batch.signature_hex)
                #expect(try hex(record.open(with: identity)) == r.plaintext_hex)
                #expect(
                    envelopeError { try record.open(with: TestKeys.carol) }?.code == .notAParty
                        || identity == TestKeys.carol
                )
            }
        }
    }

    @Test("Every invalid value is rejected with its reason; every batch reason code has a vector")
    func invalid() throws {
        let file = try load()
        for vector in file.invalid {
            let bytes = unhex(vector.value_hex)
            let error = envelopeError {
                vector.part == "sender"
                    ? try BatchSenderCopy.verify(bytes).header : try BatchRecipientEnvelope.verify(bytes).header
            }
            #expect(error?.reason == vector.reason, "\(vector.name): \(String(describing: error))")
        }
        let covered = Set(file.invalid.map(\.reason))
        for code in EnvelopeError.Code.batchVerificationCodes {
            #expect(covered.contains(code.reason), "no invalid vector for \(code.reason)")
        }
        #expect(file.reason_codes == EnvelopeError.Code.batchVerificationCodes.map(\.reason))
    }

    @Test("Portable batch records (v2): each parses, re-encodes byte for byte, wraps as JSON, verifies and opens")
    func portableRecords() throws {
        let file = try load()
        #expect(Set(file.portable_records.map(\.kind)) == ["inbox", "sentbox"])
        #expect(file.portable_records.contains { $0.read_at_ms != nil })
        for vector in file.portable_records {
            let record = try BatchMessageRecord(binary: unhex(vector.binary_hex))
            #expect(record.kind.name == vector.kind, "\(vector.name)")
            #expect(hex(record.value) == vector.value_hex)
            #expect(record.readAtMilliseconds == vector.read_at_ms)
            #expect(hex(record.binary()) == vector.binary_hex)
            let id = try MessageID(string: vector.id)
            #expect(PortableRecord.batch(record, id: id).json() == vector.json)
            switch try record.verify() {
            case .inbox(let envelope): #expect(envelope.messageID == id)
            case .sentbox(let copy): #expect(copy.header.batchID == id)
            }
            let owner = try Identity(textileString: vector.owner_private_key)
            #expect(try hex(record.open(with: owner)) == vector.plaintext_hex, "\(vector.name)")
        }
    }

    @Test("Invalid portable batch records fail at their stage with their reason")
    func invalidPortableRecords() throws {
        let file = try load()
        #expect(Set(file.invalid_portable_records.map(\.stage)) == ["parse", "verify", "open"])
        for vector in file.invalid_portable_records {
            let error = envelopeError {
                let record = try BatchMessageRecord(binary: unhex(vector.binary_hex))
                switch vector.stage {
                case "parse": return
                case "verify": _ = try record.verify()
                default:
                    let key = try #require(vector.identity_private_key)
                    _ = try record.open(with: try Identity(textileString: key))
                }
            }
            #expect(error?.reason == vector.reason, "\(vector.name): \(String(describing: error))")
            if vector.stage != "parse" {
                #expect(throws: Never.self) { try BatchMessageRecord(binary: unhex(vector.binary_hex)) }
            }
            if vector.stage == "open" {
                #expect(throws: Never.self) { try BatchMessageRecord(binary: unhex(vector.binary_hex)).verify() }
            }
        }
    }
}

@Suite("Batch envelopes (format v2)")
struct BatchEnvelopeTests {
    static func people(_ count: Int) -> [Identity] {
        (0..<count).map { i in
            try! Identity(seed: (0..<32).map { UInt8(truncatingIfNeeded: i >> (8 * ($0 % 4)) &+ $0 &* 13) })
        }
    }

    /// RFC 9162's MTH, recursively, to check the bottom-up tree against.
    static func referenceRoot(_ leaves: ArraySlice<Bytes32>) -> Bytes32 {
        if leaves.count == 1 { return leaves.first! }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        let split = leaves.startIndex + k
        return BatchLayout.nodeHash(referenceRoot(leaves[..<split]), referenceRoot(leaves[split...]))
    }

    @Test("The tree is RFC 9162's for 1...70 leaves; every path verifies; short, long and moved paths fail")
    func merkle() {
        for n in 1...70 {
            let leaves = (0..<n).map { SodiumHash.blake2b256([UInt8(n), UInt8($0)]) }
            let tree = BatchMerkleTree(leafHashes: leaves)
            #expect(tree.root == Self.referenceRoot(leaves[...]), "n = \(n)")
            for i in 0..<n {
                let path = tree.path(for: i)
                #expect(BatchMerkleTree.root(leafHash: leaves[i], index: i, size: n, path: path) == tree.root)
                if !path.isEmpty {
                    #expect(
                        BatchMerkleTree.root(leafHash: leaves[i], index: i, size: n, path: path.dropLast()) != tree.root
                    )
                }
                #expect(BatchMerkleTree.root(leafHash: leaves[i], index: i, size: n, path: path + [leaves[0]]) == nil)
                if n > 1 {
                    let j = (i + 1) % n
                    #expect(BatchMerkleTree.root(leafHash: leaves[i], index: j, size: n, path: path) != tree.root)
                }
            }
            #expect(BatchMerkleTree.root(leafHash: leaves[0], index: n, size: n, path: tree.path(for: 0)) == nil)
        }
    }

    @Test("Shared batches of 1 and 5,000: every record verifies alone and opens; the sender copy opens")
    func sharedRoundTrip() throws {
        let sender = TestKeys.alice
        for count in [1, 5000] {
            let recipients = Self.people(count)
            let body = Array("Invitation \(count)".utf8)
            let batch = try BatchEnvelope.sealShared(from: sender, to: recipients.map(\.publicKey), body: body)
            #expect(batch.recipientCount == count)
            let verifier = Ed25519Verifier(configuration: .libsodiumOnly)
            let cache = BatchSignatureCache()
            for (i, record) in batch.recipientEnvelopes().enumerated() {
                let parsed = try BatchRecipientEnvelope.verify(
                    record.serialized(),
                    using: verifier,
                    verifiedRoots: cache
                )
                #expect(parsed == record)
                #expect(parsed.kafkaKey == recipients[i].publicKey.bytes)
                if i % 97 == 0 || i == count - 1 {
                    #expect(try parsed.open(with: recipients[i]) == body)
                    #expect(
                        envelopeError { try parsed.open(with: recipients[(i + 1) % count]) }?.code
                            == (count == 1 ? nil : .notAParty)
                    )
                }
            }
            #expect(verifier.statistics.byLibsodium == 1, "one signature check for the whole batch")
            #expect(cache.count == 1)
            let copy = try BatchSenderCopy.verify(batch.senderCopy.serialized(), using: verifier, verifiedRoots: cache)
            #expect(try copy.open(with: sender) == body)
            #expect(copy.recipients.map(\.key) == recipients.map(\.publicKey))
            #expect(copy.recipients.map(\.messageID) == batch.messageIDs)
            #expect(verifier.statistics.byLibsodium == 1)
            #expect(Set(batch.messageIDs).count == count)
            #expect(batch.messageIDs.allSatisfy { $0.milliseconds == batch.header.createdAtMilliseconds })
        }
    }

    @Test("Personalised batches of 1 and 5,000: each recipient opens its own body")
    func personalisedRoundTrip() throws {
        for count in [1, 5000] {
            let recipients = Self.people(count)
            let pairs = recipients.enumerated().map { (recipient: $1.publicKey, body: Array("Dear \($0)".utf8)) }
            let batch = try BatchEnvelope.sealPersonalised(
                from: TestKeys.bob,
                to: pairs,
                senderBody: Array("Dear {n}".utf8)
            )
            let cache = BatchSignatureCache()
            for (i, record) in batch.recipientEnvelopes().enumerated() {
                let parsed = try BatchRecipientEnvelope.verify(record.serialized(), verifiedRoots: cache)
                #expect(parsed.payload.isEmpty)
                if i % 89 == 0 || i == count - 1 { #expect(try parsed.open(with: recipients[i]) == pairs[i].body) }
            }
            let copy = try BatchSenderCopy.verify(batch.senderCopy.serialized())
            #expect(try copy.open(with: TestKeys.bob) == Array("Dear {n}".utf8))
            #expect(envelopeError { try copy.open(with: recipients[0]) }?.code == .notAParty)
        }
    }

    @Test("Portable batch records: both kinds round-trip through the binary form, verify and open")
    func portableRecords() throws {
        let recipients = Self.people(3)
        let batch = try BatchEnvelope.sealShared(
            from: TestKeys.alice,
            to: recipients.map(\.publicKey),
            body: [1, 2, 3]
        )
        let inbox = BatchMessageRecord(batch.recipientEnvelope(at: 2), readAtMilliseconds: 1_767_225_600_123)
        let parsed = try BatchMessageRecord(binary: inbox.binary())
        #expect(parsed == inbox)
        #expect(try parsed.open(with: recipients[2]) == [1, 2, 3])
        #expect(envelopeError { try parsed.open(with: recipients[1]) }?.code == .notAParty)
        let sentbox = BatchMessageRecord(batch.senderCopy)
        #expect(try BatchMessageRecord(binary: sentbox.binary()).open(with: TestKeys.alice) == [1, 2, 3])
        let relabelled = BatchMessageRecord(kind: .sentbox, value: inbox.value)
        #expect(envelopeError { try relabelled.verify() }?.code == .invalidBatch)
        var v1 = inbox.binary()
        v1[4] = 1
        #expect(envelopeError { try BatchMessageRecord(binary: v1) }?.code == .unsupportedRecordVersion)
        #expect(envelopeError { try BatchMessageRecord(binary: inbox.binary() + [0]) }?.code == .invalidRecord)
        #expect(envelopeError { try MessageRecord(binary: inbox.binary()) }?.code == .unsupportedRecordVersion)
    }

    @Test("Limits: no recipients, too many, bodies too large, a smaller verifying limit")
    func limits() throws {
        let keys = Self.people(4).map(\.publicKey)
        #expect(
            envelopeError { try BatchEnvelope.sealShared(from: TestKeys.alice, to: [], body: []) }?.code
                == .invalidBatch
        )
        let small = BatchLimits(maxBodyBytes: 10, maxRecipients: 3)
        #expect(
            envelopeError { try BatchEnvelope.sealShared(from: TestKeys.alice, to: keys, body: [], limits: small) }?
                .code == .batchTooLarge
        )
        #expect(
            envelopeError {
                try BatchEnvelope.sealShared(
                    from: TestKeys.alice,
                    to: [keys[0]],
                    body: Array(repeating: 0, count: 11),
                    limits: small
                )
            }?.code == .bodyTooLarge
        )
        #expect(
            envelopeError {
                try BatchEnvelope.sealPersonalised(
                    from: TestKeys.alice,
                    to: [(keys[0], [])],
                    senderBody: Array(repeating: 0, count: 11),
                    limits: small
                )
            }?.code == .bodyTooLarge
        )
        let over = Array(repeating: TestKeys.bob.publicKey, count: BatchLimits.formatMaxRecipients + 1)
        #expect(
            envelopeError {
                try BatchEnvelope.sealShared(
                    from: TestKeys.alice,
                    to: over,
                    body: [],
                    limits: BatchLimits(maxRecipients: .max)
                )
            }?.code == .batchTooLarge
        )
        let batch = try BatchEnvelope.sealShared(from: TestKeys.alice, to: keys, body: Array(repeating: 7, count: 11))
        let record = batch.recipientEnvelope(at: 0).serialized()
        #expect(envelopeError { try BatchRecipientEnvelope.verify(record, limits: small) }?.code == .batchTooLarge)
        let roomy = BatchLimits(maxBodyBytes: 10, maxRecipients: 4)
        #expect(envelopeError { try BatchRecipientEnvelope.verify(record, limits: roomy) }?.code == .bodyTooLarge)
        #expect(
            envelopeError { try BatchSenderCopy.verify(batch.senderCopy.serialized(), limits: roomy) }?.code
                == .bodyTooLarge
        )
    }

    @Test("The signature cache holds only what verified, keyed by the whole head")
    func signatureCache() throws {
        let recipients = Self.people(5).map(\.publicKey)
        let batch = try BatchEnvelope.sealShared(from: TestKeys.alice, to: recipients, body: [9])
        let cache = BatchSignatureCache()
        let good = batch.recipientEnvelope(at: 3).serialized()
        _ = try BatchRecipientEnvelope.verify(good, verifiedRoots: cache)
        // Same root, another signature: checked in full, refused, not cached.
        var forged = good
        forged[BatchLayout.signatureOffset + 1] ^= 0x10
        #expect(
            envelopeError { try BatchRecipientEnvelope.verify(forged, verifiedRoots: cache) }?.code == .badSignature
        )
        // Same root and signature, the header's count changed (the path of index 0 still fits a tree of 6).
        var recount = batch.recipientEnvelope(at: 0).serialized()
        recount[BatchLayout.recipientCountOffset + 3] = 6
        #expect(
            envelopeError { try BatchRecipientEnvelope.verify(recount, verifiedRoots: cache) }?.code == .badSignature
        )
        #expect(cache.count == 1)
    }

    @Test("A cache warmed by a whole batch gives every verdict a fresh check gives: tampering is still refused")
    func warmCacheSameVerdicts() throws {
        let recipients = Self.people(64).map(\.publicKey)
        let batch = try BatchEnvelope.sealShared(from: TestKeys.alice, to: recipients, body: Array("welcome".utf8))
        let other = try BatchEnvelope.sealShared(from: TestKeys.alice, to: recipients, body: Array("welcomE".utf8))
        let cache = BatchSignatureCache()
        let verifier = Ed25519Verifier(configuration: .libsodiumOnly)
        let records = batch.recipientEnvelopes().map { $0.serialized() }
        for record in records + other.recipientEnvelopes().map({ $0.serialized() }) {
            _ = try BatchRecipientEnvelope.verify(record, using: verifier, verifiedRoots: cache)
        }
        #expect(verifier.statistics.byLibsodium == 2, "one signature check per batch: the cache was used")
        // The same root signed by another key (its leaves do not name the sender): valid, checked once, and it
        // does not push the batch's own head out of the cache.
        var resigned = records[5]
        resigned.replaceSubrange(
            BatchLayout.senderOffset..<BatchLayout.senderOffset + 32,
            with: TestKeys.bob.publicKey.bytes
        )
        let message = BatchLayout.signedMessage(
            header: resigned[0..<BatchLayout.headerBytes],
            root: Bytes32(resigned[BatchLayout.rootOffset..<BatchLayout.rootOffset + 32])!
        )
        var signature = [UInt8](repeating: 0, count: 64)
        message.withUnsafeBytes { m in signature.withUnsafeMutableBytes { TestKeys.bob.sign(m, into: $0.baseAddress!) }
        }
        resigned.replaceSubrange(BatchLayout.signatureOffset..<BatchLayout.signatureOffset + 64, with: signature)
        for _ in 0..<2 { _ = try BatchRecipientEnvelope.verify(resigned, using: verifier, verifiedRoots: cache) }
        _ = try BatchRecipientEnvelope.verify(records[6], using: verifier, verifiedRoots: cache)
        #expect(verifier.statistics.byLibsodium == 3)
        func verdicts(_ bytes: [UInt8]) -> (warm: EnvelopeError.Code?, fresh: EnvelopeError.Code?) {
            (
                envelopeError { try BatchRecipientEnvelope.verify(bytes, verifiedRoots: cache).header }?.code,
                envelopeError { try BatchRecipientEnvelope.verify(bytes).header }?.code
            )
        }
        let record = records[37]
        var cases: [(String, [UInt8])] = [("untouched", record)]
        for offset in record.indices {
            var changed = record
            changed[offset] ^= 0x01
            cases.append(("byte \(offset) changed", changed))
        }
        // Path hashes start after the fixed fields, the wrapped key (its length before it) and the path length.
        let itemCount = record[BatchLayout.itemLengthOffset..<BatchLayout.itemOffset].reduce(0) { $0 << 8 | Int($1) }
        let pathStart = BatchLayout.itemOffset + itemCount + 1
        let pathCount = Int(record[pathStart - 1])
        #expect(pathCount == 6)
        var foreignPath = record
        foreignPath.replaceSubrange(
            pathStart..<pathStart + 32 * pathCount,
            with: records[36][pathStart..<pathStart + 32 * pathCount]
        )
        cases.append(("a sibling's path", foreignPath))
        let truncated = Array(record[..<(pathStart - 1)]) + [UInt8(pathCount - 1)] + record[(pathStart + 32)...]
        cases.append(("the path's first hash dropped", truncated))
        let payloadStart = pathStart + 32 * pathCount + 4
        let otherRecord = other.recipientEnvelope(at: 37).serialized()
        cases.append(
            ("another batch's payload", Array(record[..<payloadStart]) + otherRecord[payloadStart...])
        )
        for (name, bytes) in cases {
            let (warm, fresh) = verdicts(bytes)
            #expect(warm == fresh, "\(name)")
            #expect((warm == nil) == (name == "untouched"), "\(name)")
        }
    }

    @Test("Every proper prefix and every changed byte of a record or a sender copy is refused")
    func everyByteMatters() throws {
        let recipients = Self.people(5).map(\.publicKey)
        let shared = try BatchEnvelope.sealShared(from: TestKeys.alice, to: recipients, body: Array("hi".utf8))
        let personal = try BatchEnvelope.sealPersonalised(
            from: TestKeys.alice,
            to: recipients.map { ($0, [1, 2]) },
            senderBody: [3]
        )
        for batch in [shared, personal] {
            let record = batch.recipientEnvelope(at: 4).serialized()
            let copy = batch.senderCopy.serialized()
            for (value, isCopy) in [(record, false), (copy, true)] {
                func refused(_ bytes: [UInt8]) -> Bool {
                    envelopeError {
                        isCopy
                            ? try BatchSenderCopy.verify(bytes).header : try BatchRecipientEnvelope.verify(bytes).header
                    } != nil
                }
                for length in 0..<value.count {
                    #expect(refused(Array(value[0..<length])), "prefix of \(length) bytes")
                }
                for offset in value.indices {
                    var changed = value
                    changed[offset] ^= 0x01
                    #expect(refused(changed), "byte \(offset) changed")
                }
            }
        }
    }

    @Test("Secrets stay out of descriptions")
    func descriptions() throws {
        let batch = try BatchEnvelope.sealShared(from: TestKeys.alice, to: [TestKeys.bob.publicKey], body: [1])
        let record = batch.recipientEnvelope(at: 0)
        for text in [String(describing: batch), String(describing: record), String(describing: batch.senderCopy)] {
            #expect(!text.contains(hex(record.payload)))
            #expect(!text.contains(hex(record.item)))
        }
    }
}
