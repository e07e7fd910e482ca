import Foundation
import MailroomCore
import MailroomKafka
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

@Suite("Record handler (no services)")
struct RecordHandlerTests {
    let handler = RecordHandler(workerName: "test-worker")

    func record(key: [UInt8]?, value: [UInt8]?, offset: Int64 = 7) -> KafkaRecord {
        KafkaRecord(topic: "mailroom.envelopes", partition: 2, offset: offset, key: key, value: value)
    }

    @Test func tombstoneIsRejectedNotCrashed() {
        guard case .rejected(let rejection) = handler.handle(record(key: [1, 2, 3], value: nil)) else {
            Issue.record("a tombstone must be rejected")
            return
        }
        #expect(rejection.reason == RejectionReason.emptyRecord)
        #expect(rejection.source == RecordSource(topic: "mailroom.envelopes", partition: 2, offset: 7))
        #expect(rejection.envelopeBytes == 0)
    }

    @Test func validEnvelopeIsAccepted() throws {
        let alice = Identity.generate()
        let bob = Identity.generate()
        let envelope = try Envelope.seal(from: alice, to: bob.publicKey, body: Array("hi".utf8))
        guard
            case .accepted(let verified) = handler.handle(
                record(key: bob.publicKey.bytes, value: envelope.serialized())
            )
        else {
            Issue.record("a valid envelope must be accepted")
            return
        }
        #expect(verified.id == envelope.id)
        let message = NewMessage(verified, source: RecordSource(topic: "t", partition: 0, offset: 0))
        #expect(message.recipient == bob.publicKey.bytes)
        #expect(message.sender == alice.publicKey.bytes)
        #expect(message.id == envelope.id.uuid)
    }

    @Test func keyMustBeTheRecipient() throws {
        let alice = Identity.generate()
        let bob = Identity.generate()
        let envelope = try Envelope.seal(from: alice, to: bob.publicKey, body: [1])
        for key in [alice.publicKey.bytes, [], nil] as [[UInt8]?] {
            guard case .rejected(let rejection) = handler.handle(record(key: key, value: envelope.serialized())) else {
                Issue.record("a key other than the recipient's must be rejected")
                continue
            }
            #expect(rejection.reason == RejectionReason.keyMismatch)
            #expect(rejection.messageID == envelope.id.uuid)
        }
    }

    @Test func farFutureIsRejectedButSmallSkewIsFine() throws {
        let alice = Identity.generate()
        let bob = Identity.generate()
        let now = Date()
        let future = try Envelope.seal(
            from: alice,
            to: bob.publicKey,
            body: [1],
            createdAt: now.addingTimeInterval(3_600)
        )
        guard
            case .rejected(let rejection) = handler.handle(
                record(key: bob.publicKey.bytes, value: future.serialized()),
                now: now
            )
        else {
            Issue.record("an envelope dated an hour ahead must be rejected")
            return
        }
        #expect(rejection.reason == RejectionReason.createdInFuture)
        let slightlyAhead = try Envelope.seal(
            from: alice,
            to: bob.publicKey,
            body: [1],
            createdAt: now.addingTimeInterval(60)
        )
        guard
            case .accepted = handler.handle(
                record(key: bob.publicKey.bytes, value: slightlyAhead.serialized()),
                now: now
            )
        else {
            Issue.record("a minute of clock skew must be tolerated")
            return
        }
    }

    @Test func anEnvelopeOlderThanTheAgeLimitIsRejected() throws {
        let alice = Identity.generate()
        let bob = Identity.generate()
        let now = Date()
        let handler = RecordHandler(maxEnvelopeAge: .seconds(3_600), workerName: "test")
        let old = try Envelope.seal(
            from: alice,
            to: bob.publicKey,
            body: [1],
            createdAt: now.addingTimeInterval(-3_601)
        )
        guard
            case .rejected(let rejection) = handler.handle(
                record(key: bob.publicKey.bytes, value: old.serialized()),
                now: now
            )
        else {
            Issue.record("an envelope past the age limit must be rejected")
            return
        }
        #expect(rejection.reason == RejectionReason.envelopeTooOld)
        #expect(rejection.messageID == old.id.uuid)
        let young = try Envelope.seal(
            from: alice,
            to: bob.publicKey,
            body: [1],
            createdAt: now.addingTimeInterval(-3_599)
        )
        guard case .accepted = handler.handle(record(key: bob.publicKey.bytes, value: young.serialized()), now: now)
        else {
            Issue.record("an envelope inside the age limit must be accepted")
            return
        }
        // The default limit is seven days.
        #expect(RecordHandler(workerName: "test").maxEnvelopeAge == .seconds(7 * 86_400))
    }

    @Test func everyInvalidVectorIsRejectedWithItsReason() throws {
        let vectors = try EnvelopeVectorFile.load()
        #expect(vectors.invalid.count >= 9)
        for vector in vectors.invalid {
            guard
                case .rejected(let rejection) = handler.handle(
                    record(key: vectors.anyRecipientKey, value: vector.envelope)
                )
            else {
                Issue.record("\(vector.name) was accepted")
                continue
            }
            #expect(rejection.reason == vector.workerReason, "\(vector.name)")
            #expect(rejection.envelopeBytes == vector.envelope.count)
        }
    }

    @Test func garbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 16, 81, 200, 5_000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            guard case .rejected = handler.handle(record(key: [1], value: bytes)) else {
                Issue.record("random bytes were accepted")
                continue
            }
        }
    }
}

/// The envelope vectors shared with the core tests (Tests/MailroomCoreTests/Vectors/envelopes.json).
struct EnvelopeVectorFile {
    struct Invalid {
        var name: String
        var reason: String
        var envelope: [UInt8]
    }

    struct Valid {
        var name: String
        var envelope: [UInt8]
        var senderPublicKey: String
        var recipientPublicKey: String
    }

    var valid: [Valid]
    var invalid: [Invalid]

    /// The recipient key of the first valid vector (invalid vectors are mutations of valid ones).
    var anyRecipientKey: [UInt8] {
        (try? PublicKey(textileString: valid[0].recipientPublicKey).bytes) ?? []
    }

    static func load() throws -> EnvelopeVectorFile {
        let url = TestEnvironment.packageRoot.appendingPathComponent("Tests/MailroomCoreTests/Vectors/envelopes.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
        let invalid = (object["invalid"] as? [[String: Any]] ?? []).map { entry in
            Invalid(
                name: entry["name"] as? String ?? "?",
                reason: entry["reason"] as? String ?? "?",
                envelope: hexBytes(entry["envelope_hex"] as? String ?? "")
            )
        }
        let valid = (object["valid"] as? [[String: Any]] ?? []).map { entry in
            Valid(
                name: entry["name"] as? String ?? "?",
                envelope: hexBytes(entry["envelope_hex"] as? String ?? ""),
                senderPublicKey: entry["sender_public_key"] as? String ?? "",
                recipientPublicKey: entry["recipient_public_key"] as? String ?? ""
            )
        }
        return EnvelopeVectorFile(valid: valid, invalid: invalid)
    }
}

extension EnvelopeVectorFile.Invalid {
    /// The reason the worker gives this v1 vector (``readAsBatchOrV1Reason(_:v1Reason:)``).
    var workerReason: String { readAsBatchOrV1Reason(envelope, v1Reason: reason) }
}

/// The reason the worker and `submit` give a v1 test vector: its own, except for a value whose first byte is 2, which
/// they read as a batch value (format v2) and refuse for what that parse finds (`unsupported_version` is what
/// `Envelope.verify` alone says).
func readAsBatchOrV1Reason(_ value: [UInt8], v1Reason: String) -> String {
    guard BatchRecordAssembly.isBatchValue(value) else { return v1Reason }
    do {
        if BatchRecordAssembly.isSenderCopy(value) {
            _ = try BatchSenderCopy.verify(value)
        } else {
            _ = try BatchRecipientEnvelope.verify(value)
        }
        return "accepted"
    } catch {
        return error.reason
    }
}
