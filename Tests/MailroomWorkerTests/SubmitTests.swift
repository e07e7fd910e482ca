import Foundation
import MailroomCore
import MailroomKafka
import MailroomProducer
import MailroomTestSupport
import Synchronization
import Testing

/// Envelopes sealed elsewhere: `MailroomProducer.submit` checks them as the worker will, and nothing invalid
/// reaches the topic.
@Suite("Submitting envelopes sealed elsewhere", .enabled(if: TestEnvironment.hasBroker))
struct SubmitTests {
    struct Vectors: Decodable {
        struct Valid: Decodable {
            var name: String
            var envelope_hex: String
        }
        struct Invalid: Decodable {
            var name: String
            var reason: String
            var envelope_hex: String
        }
        var valid: [Valid]
        var invalid: [Invalid]
    }

    static func vectors() throws -> Vectors {
        let url = TestEnvironment.packageRoot.appendingPathComponent("Tests/MailroomCoreTests/Vectors/envelopes.json")
        return try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }

    /// The reason `submit` gives: the vector's, except for a value whose first byte is 2, which `submit` reads as a
    /// batch value (format v2), as the worker does (``readAsBatchOrV1Reason(_:v1Reason:)``).
    static func submitReason(_ vector: Vectors.Invalid) -> String {
        readAsBatchOrV1Reason(hexBytes(vector.envelope_hex), v1Reason: vector.reason)
    }

    @Test(
        "Every invalid envelope vector is refused with its reason, one at a time and in bulk; the topic gets only the valid ones"
    )
    func invalidEnvelopesNeverReachTheTopic() async throws {
        let vectors = try Self.vectors()
        let suffix = UInt32.random(in: 0...UInt32.max)
        let topics = MailroomTopics(envelopes: "submit-\(suffix)", deadLetters: "submit-dlq-\(suffix)")
        let kafka = KafkaConfiguration(brokers: try TestEnvironment.requireBrokers(), overrides: ["log_level": "3"])
        _ = try await KafkaAdmin.createTopics([topics.envelopes], partitions: 1, configuration: kafka)
        var settings = MailroomProducer.Configuration(kafka: kafka, topics: topics, sendTimeout: .seconds(20))
        settings.maxEnvelopeAge = .seconds(100 * 365 * 86_400)  // the fixed vectors are older than the default
        let producer = try MailroomProducer(settings)

        #expect(vectors.invalid.count >= 20)
        for vector in vectors.invalid {
            let reason = Self.submitReason(vector)
            do {
                try await producer.submit(hexBytes(vector.envelope_hex))
                Issue.record("\(vector.name) was accepted")
            } catch {
                #expect(error.code.rawValue == reason, "\(vector.name): \(error)")
                #expect(error.envelopeError?.reason == reason)
            }
        }
        let bulk = await producer.submitBulk(vectors.invalid.map { hexBytes($0.envelope_hex) })
        for (vector, result) in zip(vectors.invalid, bulk) {
            guard case .failed(let error) = result else {
                Issue.record("\(vector.name) was accepted in bulk")
                continue
            }
            #expect(error.code.rawValue == Self.submitReason(vector), "\(vector.name)")
        }
        // Dated too far ahead: the worker would refuse it, so the producer does.
        let future = try Envelope.seal(
            from: Identity.generate(),
            to: Identity.generate().publicKey,
            body: [1],
            createdAt: Date().addingTimeInterval(3600)
        )
        do {
            try await producer.submit(future.serialized())
            Issue.record("an envelope dated an hour ahead was accepted")
        } catch {
            #expect(error.code == .createdInFuture)
        }
        // Created longer ago than the age limit: the worker would refuse it, so the producer does.
        let old = try Envelope.seal(
            from: Identity.generate(),
            to: Identity.generate().publicKey,
            body: [1],
            createdAt: Date().addingTimeInterval(-8 * 86_400)
        )
        let strict = try MailroomProducer(.init(kafka: kafka, topics: topics, sendTimeout: .seconds(20)))
        do {
            try await strict.submit(old.serialized())
            Issue.record("an envelope created 8 days ago was accepted")
        } catch {
            #expect(error.code == .envelopeTooOld)
        }
        await strict.close()

        // The valid vectors go through, keyed by their recipients; submitting one twice sends it twice (the
        // worker stores it once).
        let valid = vectors.valid.map { hexBytes($0.envelope_hex) }
        var ids: [MessageID] = []
        for envelope in valid { ids.append(try await producer.submit(envelope)) }
        let results = await producer.submitBulk([valid[0]])
        #expect(results.allSatisfy { $0.isSent })
        await producer.close()

        // The topic holds exactly the valid envelopes, each with its recipient as key.
        let consumer = try KafkaConsumer(
            .init(kafka: kafka, groupID: "submit-check-\(suffix)", topics: [topics.envelopes])
        )
        var seen: [KafkaRecord] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while seen.count < valid.count + 1 && ContinuousClock.now < deadline {
            seen += await consumer.poll(maxRecords: 100, timeout: .milliseconds(500)).records
        }
        await consumer.close()
        #expect(seen.count == valid.count + 1)
        #expect(seen.map { $0.value ?? [] } == valid + [valid[0]])
        for record in seen {
            let envelope = try Envelope.verify(record.value ?? [])
            #expect(record.key == envelope.recipient.bytes)
        }
        #expect(try seen.prefix(valid.count).map { try Envelope.verify($0.value ?? []).id } == ids)
    }
}

/// `withProducer` closes the producer however its body ends.
@Suite("Producer lifecycle")
struct ProducerLifecycleTests {
    private struct Planned: Error {}

    @Test func withProducerClosesTheProducerWhenTheBodyThrows() async throws {
        let configuration = MailroomProducer.Configuration(
            kafka: KafkaConfiguration(brokers: "127.0.0.1:1", overrides: ["log_level": "0"]),
            sendTimeout: .seconds(1)
        )
        let escaped = Mutex<MailroomProducer?>(nil)
        await #expect(throws: Planned.self) {
            try await MailroomProducer.withProducer(configuration) { producer in
                escaped.withLock { $0 = producer }
                throw Planned()
            }
        }
        let producer = try #require(escaped.withLock { $0 })
        // Closed: a send fails at once with the client's "closed" error instead of waiting for a broker.
        let identity = Identity.generate()
        let error = await #expect(throws: ProducerError.self) {
            _ = try await producer.send(from: identity, to: identity.publicKey, body: Array("after close".utf8))
        }
        #expect(error.map { "\($0)".contains("closed") } == true)
    }
}
