import Foundation
import MailroomCore
import MailroomKafka
import MailroomProducer
import MailroomTestSupport
import Testing

/// Batch values (format v2) sealed elsewhere: `submit` checks each as the worker will, keys it by its party, and
/// refuses a tampered one before Kafka.
@Suite("Submitting batch values sealed elsewhere", .enabled(if: TestEnvironment.hasBroker))
struct SubmitBatchTests {
    @Test(
        "A recipient record and the sender copy go through, keyed by their parties; tampered values never reach Kafka"
    )
    func submitBatchValues() async throws {
        let topic = try await BrokerTopic.make("submit-batch")
        let sender = Identity.generate()
        let recipients = (0..<5).map { _ in Identity.generate().publicKey }
        let batch = try BatchEnvelope.sealShared(from: sender, to: recipients, body: Array("hi all".utf8))
        let record = batch.recipientEnvelope(at: 2)
        let copy = batch.senderCopy

        // Tampered: a payload byte flipped (the header's payload hash no longer matches), a Merkle path byte flipped.
        var payloadFlipped = record.serialized()
        payloadFlipped[payloadFlipped.count - 1] ^= 0x01
        var pathFlipped = record.serialized()
        let pathStart = pathFlipped.count - 4 - record.payload.count - 32 * record.path.count
        #expect(!record.path.isEmpty)
        pathFlipped[pathStart] ^= 0x01
        // Another record's path in place of this one's.
        var otherPath = record.serialized()
        let foreign = batch.recipientEnvelope(at: 4).path
        otherPath.replaceSubrange(pathStart..<pathStart + 32, with: foreign[0])
        var copyFlipped = copy.serialized()
        copyFlipped[300] ^= 0x01
        var unknownPart = record.serialized()
        unknownPart[254] = 9

        let ids = try await MailroomProducer.withProducer(topic.producerConfiguration()) { producer in
            let refused: [(String, [UInt8], String)] = [
                ("payload byte", payloadFlipped, "payload_mismatch"),
                ("path byte", pathFlipped, "bad_merkle_path"),
                ("another leaf's path", otherPath, "bad_merkle_path"),
                ("sender copy byte", copyFlipped, "payload_mismatch"),
                ("unknown part", unknownPart, "invalid_batch"),
                ("head only", Array(record.serialized().prefix(200)), "truncated"),
            ]
            for (name, value, reason) in refused {
                do {
                    try await producer.submit(value)
                    Issue.record("\(name) was accepted")
                } catch let error as ProducerError {
                    #expect(error.code.rawValue == reason, "\(name): \(error)")
                    #expect(error.envelopeError?.reason == reason)
                }
            }
            let bulk = await producer.submitBulk(refused.map(\.1))
            #expect(bulk.allSatisfy { !$0.isSent })

            let recordID = try await producer.submit(record.serialized())
            let copyID = try await producer.submit(copy.serialized())
            // The rest of the batch in bulk: its signature is checked once (cached), each record alone.
            let rest = await producer.submitBulk([0, 1, 3, 4].map { batch.recipientEnvelope(at: $0).serialized() })
            #expect(rest.allSatisfy { $0.isSent })
            return (recordID, copyID, rest)
        }
        #expect(ids.0 == record.messageID)
        #expect(ids.1 == batch.header.batchID)
        var restIDs: [MessageID] = []
        for result in ids.2 {
            if case .sent(let id, _, _) = result { restIDs.append(id) }
        }
        #expect(restIDs == [0, 1, 3, 4].map { batch.messageIDs[$0] })

        let records = try await topic.consume(6)
        #expect(records.count == 6)
        let values = records.compactMap(\.value)
        #expect(values.contains(record.serialized()) && values.contains(copy.serialized()))
        for stored in records {
            if stored.value == copy.serialized() {
                #expect(stored.key == sender.publicKey.bytes)
            } else {
                let part = try BatchRecipientEnvelope.verify(stored.value ?? [])
                #expect(stored.key == part.recipient.bytes)
            }
        }
    }

    @Test("A batch value dated ahead of the clock skew, or older than the age limit, is refused")
    func batchValueTimeChecks() async throws {
        let topic = try await BrokerTopic.make("submit-batch-time")
        let sender = Identity.generate()
        let recipients = [Identity.generate().publicKey, Identity.generate().publicKey]
        let ahead = try MessageID(milliseconds: Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000)
        let old = try MessageID(milliseconds: Int64(Date().timeIntervalSince1970 * 1000) - 8 * 86_400_000)
        let future = try BatchEnvelope.sealShared(from: sender, to: recipients, body: [1], batchID: ahead)
        let stale = try BatchEnvelope.sealShared(from: sender, to: recipients, body: [1], batchID: old)
        try await MailroomProducer.withProducer(topic.producerConfiguration()) { producer in
            for (value, code) in [
                (future.recipientEnvelope(at: 0).serialized(), ProducerError.Code.createdInFuture),
                (future.senderCopy.serialized(), .createdInFuture),
                (stale.recipientEnvelope(at: 1).serialized(), .envelopeTooOld),
                (stale.senderCopy.serialized(), .envelopeTooOld),
            ] {
                do {
                    try await producer.submit(value)
                    Issue.record("a batch value dated outside the limits was accepted")
                } catch let error as ProducerError {
                    #expect(error.code == code)
                }
            }
        }
    }
}
