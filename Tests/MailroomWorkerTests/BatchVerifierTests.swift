import Foundation
import MailroomCore
import MailroomKafka
import MailroomStore
import Testing

@testable import MailroomWorker

/// Verification of a batch on the verifier's own queues (no services).
@Suite("Batch verifier (no services)")
struct BatchVerifierTests {
    /// 300 records (10 slices, the last one short), every fifth forged, on 1, 2 and 5 queues: each verdict lands
    /// at its record's place.
    @Test(arguments: [1, 2, 5])
    func verdictsComeBackInRecordOrder(lanes: Int) async throws {
        let alice = Identity.generate()
        let bob = Identity.generate()
        var records: [KafkaRecord] = []
        var ids: [MessageID] = []
        for offset in 0..<300 {
            let envelope = try Envelope.seal(from: alice, to: bob.publicKey, body: Array("\(offset)".utf8))
            var value = envelope.serialized()
            if offset % 5 == 0 { value[value.count - 1] ^= 1 }  // a flipped bit in the signature
            records.append(
                KafkaRecord(topic: "t", partition: 0, offset: Int64(offset), key: bob.publicKey.bytes, value: value)
            )
            ids.append(envelope.id)
        }
        let verifier = BatchVerifier(handler: RecordHandler(workerName: "test"), lanes: lanes)
        // Twice on the same queues: a second batch finds them free again.
        for _ in 0..<2 {
            let verdicts = await verifier.verify(records)
            #expect(verdicts.count == records.count)
            for (offset, verdict) in verdicts.enumerated() {
                switch verdict {
                case .accepted(let envelope):
                    #expect(offset % 5 != 0, "record \(offset) was forged")
                    #expect(envelope.id == ids[offset])
                case .rejected(let rejection):
                    #expect(offset % 5 == 0, "record \(offset) is valid: \(rejection.reason)")
                    #expect(rejection.source.offset == Int64(offset))
                case .acceptedBatchMember, .acceptedSenderCopy:
                    Issue.record("record \(offset) is a v1 envelope, not a batch's")
                }
            }
        }
        #expect(await verifier.verify([]).isEmpty)
    }
}
