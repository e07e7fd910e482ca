import Foundation
import Testing

@testable import MailroomCore

@Suite("Portable message records (Vectors/records.json)")
struct RecordTests {
    func load() throws -> RecordVectorFile {
        try JSONDecoder().decode(RecordVectorFile.self, from: vectorData("records.json"))
    }

    func envelopes() throws -> EnvelopeVectorFile {
        try JSONDecoder().decode(EnvelopeVectorFile.self, from: vectorData("envelopes.json"))
    }

    @Test(
        "Regenerate the vector file (only with MAILROOM_REGENERATE_VECTORS=1)",
        .enabled(if: ProcessInfo.processInfo.environment["MAILROOM_REGENERATE_VECTORS"] == "1")
    )
    func regenerate() throws {
        try RecordVectorGenerator.encode(RecordVectorGenerator.generate(from: envelopes()))
            .write(to: RecordVectorGenerator.sourcePath)
    }

    @Test("The generator reproduces the committed file")
    func reproducible() throws {
        #expect(try RecordVectorGenerator.generate(from: envelopes()) == load())
    }

    @Test(
        "Valid records: both forms parse to one record that re-encodes exactly, verifies and opens for its owner only"
    )
    func valid() throws {
        let file = try load()
        #expect(file.valid.count >= 10)
        let readAts = try file.valid.map { try MessageRecord(binary: unhex($0.binary_hex)).readAtMilliseconds }
        #expect(readAts.contains { $0 != nil }, "some record carries read_at")
        #expect(readAts.contains { $0 == nil }, "some record is unread")
        for vector in file.valid {
            let fromBinary = try MessageRecord(binary: unhex(vector.binary_hex))
            let fromJSON = try MessageRecord(json: vector.json_text)
            #expect(fromBinary == fromJSON, "\(vector.name)")
            #expect(hex(try fromBinary.binary()) == vector.binary_hex)
            #expect(fromJSON.json() == vector.json_text)
            #expect(fromBinary.kind.name == vector.kind)
            try fromBinary.verify()
            let owner = try Identity(textileString: vector.owner_private_key)
            #expect(try hex(fromJSON.open(with: owner)) == vector.plaintext_hex)
            let stranger = TestKeys.carol
            if stranger.publicKey != fromBinary.owner {
                #expect(envelopeError { try fromBinary.open(with: stranger) }?.code == .notAParty)
            }
        }
    }

    @Test("A page's JSON array is the vectors' canonical texts joined, whatever the keys repeat")
    func jsonArray() throws {
        let texts = try load().valid.map(\.json_text)
        let records = try texts.map { try MessageRecord(json: $0) }
        // Twice over, so that keys come again from the cache.
        let page = records + records
        #expect(
            String(decoding: MessageRecord.jsonArray(page), as: UTF8.self) == "["
                + (texts + texts).joined(separator: ",") + "]"
        )
        #expect(MessageRecord.jsonArray([MessageRecord]()) == Array("[]".utf8))
        #expect(String(decoding: MessageRecord.jsonArray(records.prefix(1)), as: UTF8.self) == "[\(texts[0])]")
    }

    @Test("Every invalid record fails with its reason, in whichever form it is given")
    func invalid() throws {
        let file = try load()
        var covered = Set<String>()
        for vector in file.invalid {
            let error = envelopeError {
                let record =
                    if let binary = vector.binary_hex {
                        try MessageRecord(binary: unhex(binary))
                    } else {
                        try MessageRecord(json: vector.json_text!)
                    }
                try record.verify(limits: EnvelopeLimits(maxBodyBytes: file.max_body_bytes))
            }
            #expect(error?.reason == vector.reason, "\(vector.name): \(String(describing: error))")
            covered.insert(vector.reason)
        }
        for code: EnvelopeError.Code in [
            .invalidRecord, .unsupportedRecordVersion, .invalidSenderKey, .invalidRecipientKey, .invalidMessageID,
            .invalidCiphertextLength, .bodyTooLarge, .invalidFieldLength, .badSignature,
        ] {
            #expect(covered.contains(code.reason), "no invalid record vector for \(code.reason)")
        }
    }

    @Test("read_at is metadata: changing it keeps the record valid; every signed field is bound")
    func metadataIsOutsideTheSignature() throws {
        let envelope = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: Array("hi".utf8))
        var record = MessageRecord(envelope, kind: .inbox)
        try record.verify()
        record.readAtMilliseconds = 42
        try record.verify()
        #expect(try record.open(with: TestKeys.bob) == Array("hi".utf8))
        #expect(try MessageRecord(binary: try record.binary()) == record)
        #expect(try MessageRecord(json: record.json()) == record)
        let sent = MessageRecord(envelope, kind: .sentbox)
        #expect(try sent.open(with: TestKeys.alice) == Array("hi".utf8))
        #expect(envelopeError { try sent.open(with: TestKeys.bob) }?.code == .notAParty)
    }

    @Test(
        "The JSON reader takes hex keys and an uppercase id, and any whitespace; writers still emit the canonical text"
    )
    func lenientWhereTheSpecSaysSo() throws {
        let envelope = try Envelope.seal(from: TestKeys.alice, to: TestKeys.bob.publicKey, body: Array("hi".utf8))
        let record = MessageRecord(envelope, kind: .inbox)
        let text = record.json()
            .replacingOccurrences(of: record.sender.textileString, with: record.sender.hexString)
            .replacingOccurrences(of: record.id.description, with: record.id.description.uppercased())
            .replacingOccurrences(of: ",", with: ",\n  ")
        let parsed = try MessageRecord(json: text)
        #expect(parsed == record)
        #expect(parsed.json() == record.json())
    }

    @Test("Base64url: unpadded, strict, one encoding per byte string")
    func base64URL() {
        for count in 0..<70 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("="))
            #expect(Base64URL.decode(text) == bytes)
            #expect(
                text
                    == Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            )
        }
        #expect(Base64URL.decode("AA==") == nil)
        #expect(Base64URL.decode("A") == nil)
        #expect(Base64URL.decode("AB") == nil)  // unused bits set
        #expect(Base64URL.decode("AA") == [0])
        #expect(Base64URL.decode("a+b/") == nil)
    }
}
