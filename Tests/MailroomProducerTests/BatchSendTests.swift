import MailroomCore
import MailroomKafka
import MailroomProducer
import MailroomTestSupport
import Testing

/// `sendBulk` seals batch envelopes (format v2) and puts every recipient's record and each batch's sender copy on
/// the envelope topic; read back from the real broker, every value verifies alone and opens for its party.
@Suite("Bulk sends as batch envelopes", .enabled(if: TestEnvironment.hasBroker))
struct BatchSendTests {
    @Test("50 recipients, one shared body: 50 recipient records and one sender copy, each verifying alone")
    func sharedBatch() async throws {
        let topic = try await BrokerTopic.make("batch-shared")
        let sender = Identity.generate()
        let recipients = (0..<50).map { _ in Identity.generate() }
        let body = Array("Welcome to Mailroom".utf8)
        let messages = recipients.map { BulkMessage(recipient: $0.publicKey.textileString, body: body) }

        let report = try await MailroomProducer.withProducer(topic.producerConfiguration()) { producer in
            await producer.sendBulkReport(from: sender, messages: messages)
        }
        #expect(report.sent == 50 && report.failed == 0)
        #expect(report.batches.count == 1)
        let batch = try #require(report.batches.first)
        #expect(batch.kind == .shared)
        #expect(batch.messageIndices == Array(0..<50))
        #expect(batch.senderCopy.isSent)

        let records = try await topic.consume(51)
        #expect(records.count == 51)
        let (parts, copies) = try Self.split(records)
        #expect(parts.count == 50 && copies.count == 1)
        for (index, recipient) in recipients.enumerated() {
            let part = try #require(parts.first { $0.recipient == recipient.publicKey })
            #expect(part.header.kind == .shared && part.header.batchID == batch.batchID)
            #expect(try part.open(with: recipient) == body)
            guard case .sent(let id, _, _) = report.results[index] else {
                Issue.record("message \(index) was not sent")
                continue
            }
            #expect(id == part.messageID)
        }
        let copy = try #require(copies.first)
        #expect(copy.header.batchID == batch.batchID && copy.header.sender == sender.publicKey)
        #expect(try copy.open(with: sender) == body)
        #expect(copy.recipients.map(\.key) == recipients.map(\.publicKey))
        #expect(Set(copy.recipients.map(\.messageID)) == Set(parts.map(\.messageID)))
    }

    @Test("Different bodies: a personalised batch; each recipient opens its own body; the sender copy holds senderBody")
    func personalisedBatch() async throws {
        let topic = try await BrokerTopic.make("batch-personalised")
        let sender = Identity.generate()
        let recipients = (0..<12).map { _ in Identity.generate() }
        let messages = recipients.enumerated().map { index, recipient in
            BulkMessage(recipient: recipient.publicKey.hexString, body: Array("Hello, friend \(index)".utf8))
        }
        let template = Array("Hello, friend {n}".utf8)
        let report = try await MailroomProducer.withProducer(topic.producerConfiguration()) { producer in
            await producer.sendBulkReport(from: sender, messages: messages, senderBody: template)
        }
        #expect(report.sent == 12)
        #expect(report.batches.map(\.kind) == [.personalised])

        let (parts, copies) = try Self.split(try await topic.consume(13))
        #expect(parts.count == 12 && copies.count == 1)
        for (index, recipient) in recipients.enumerated() {
            let part = try #require(parts.first { $0.recipient == recipient.publicKey })
            #expect(part.header.kind == .personalised)
            #expect(try part.open(with: recipient) == messages[index].body)
            #expect(throws: EnvelopeError.self) { try part.open(with: recipients[(index + 1) % 12]) }
        }
        #expect(try copies[0].open(with: sender) == template)
    }

    @Test("batchRecipients 20 and 50 valid messages: 3 batches of nearly equal size; invalid messages fail alone")
    func batchSplitAndInvalidMessages() async throws {
        let topic = try await BrokerTopic.make("batch-split")
        let sender = Identity.generate()
        let recipients = (0..<50).map { _ in Identity.generate() }
        var messages = recipients.map { BulkMessage(recipient: $0.publicKey.textileString, body: [7, 7, 7]) }
        messages.insert(BulkMessage(recipient: "not-a-key", body: [1]), at: 10)
        messages.insert(
            BulkMessage(recipient: recipients[0].publicKey.hexString, body: [UInt8](repeating: 0, count: 70_000)),
            at: 30
        )
        var configuration = topic.producerConfiguration()
        configuration.batchRecipients = 20
        let progress = ProgressLog()
        let report = try await MailroomProducer.withProducer(configuration) { producer in
            await producer.sendBulkReport(from: sender, messages: messages) { progress.add($0) }
        }
        #expect(report.sent == 50 && report.failed == 2)
        guard case .failed(let badKey) = report.results[10], case .failed(let tooLarge) = report.results[30] else {
            Issue.record("the invalid messages were sent")
            return
        }
        #expect(badKey.code == .invalidRecipientKey)
        #expect(tooLarge.code == .bodyTooLarge)
        #expect(!"\(tooLarge)".contains("\u{0}\u{0}"))
        #expect(report.batches.map(\.messageIndices.count) == [17, 17, 16])
        #expect(report.batches.allSatisfy { $0.kind == .shared && $0.senderCopy.isSent })
        #expect(Set(report.batches.flatMap(\.messageIndices)).count == 50)
        #expect(!report.batches.contains { $0.messageIndices.contains(10) || $0.messageIndices.contains(30) })
        #expect(progress.last?.finished == 52 && progress.last?.failed == 2)

        let (parts, copies) = try Self.split(try await topic.consume(53))
        #expect(parts.count == 50 && copies.count == 3)
        #expect(Set(copies.map(\.header.batchID)) == Set(report.batches.map(\.batchID)))
        var sentIDs: Set<MessageID> = []
        for result in report.results {
            if case .sent(let id, _, _) = result { sentIDs.insert(id) }
        }
        #expect(Set(parts.map(\.messageID)) == sentIDs)
    }

    @Test("One message stays a single envelope (format v1)")
    func singleMessageStaysV1() async throws {
        let topic = try await BrokerTopic.make("batch-single")
        let sender = Identity.generate()
        let recipient = Identity.generate()
        let report = try await MailroomProducer.withProducer(topic.producerConfiguration()) { producer in
            await producer.sendBulkReport(
                from: sender,
                messages: [
                    BulkMessage(recipient: recipient.publicKey.textileString, body: [1, 2, 3]),
                    BulkMessage(recipient: "nope", body: [1]),
                ]
            )
        }
        #expect(report.batches.isEmpty && report.sent == 1 && report.failed == 1)
        let records = try await topic.consume(1)
        let value = try #require(records.first?.value)
        #expect(value.first == 1)
        let envelope = try Envelope.verify(value)
        #expect(records.first?.key == recipient.publicKey.bytes)
        guard case .sent(let id, _, _) = report.results[0] else {
            Issue.record("not sent")
            return
        }
        #expect(envelope.id == id)
    }

    /// Recipient records and sender copies, verified alone; each record's key checked against its party.
    static func split(_ records: [KafkaRecord]) throws -> ([BatchRecipientEnvelope], [BatchSenderCopy]) {
        var parts: [BatchRecipientEnvelope] = []
        var copies: [BatchSenderCopy] = []
        for record in records {
            let value = record.value ?? []
            #expect(value.first == 2)
            if let part = try? BatchRecipientEnvelope.verify(value) {
                #expect(record.key == part.recipient.bytes)
                parts.append(part)
            } else {
                let copy = try BatchSenderCopy.verify(value)
                #expect(record.key == copy.header.sender.bytes)
                copies.append(copy)
            }
        }
        return (parts, copies)
    }
}

/// What a caller sees when a batch's sender copy does not reach the broker, and what it does about it.
@Suite("Bulk sends: sender copies and in-flight limits", .enabled(if: TestEnvironment.hasBroker))
struct BatchSendEdgeTests {
    @Test("A sender copy over librdkafka's message limit fails alone: its messages count as sent; submit resends it")
    func senderCopyFailureIsReportedAndResendable() async throws {
        let topic = try await BrokerTopic.make("batch-copy-fails")
        let sender = Identity.generate()
        let recipients = (0..<300).map { _ in Identity.generate() }
        let messages = recipients.map { BulkMessage(recipient: $0.publicKey.hexString, body: Array("hi".utf8)) }
        // Each recipient record is under 1 KiB; the sender copy lists 300 recipients (24,000 bytes and more).
        var configuration = topic.producerConfiguration()
        configuration.kafka.overrides["message.max.bytes"] = "10000"
        configuration.kafka.overrides["batch.size"] = "10000"
        let report = try await MailroomProducer.withProducer(configuration) { producer in
            await producer.sendBulkReport(from: sender, messages: messages)
        }
        #expect(report.sent == 300 && report.failed == 0)
        #expect(report.batches.count == 1)
        let failure = try #require(report.senderCopyFailures.first)
        guard case .failed(let error, let copy) = failure.senderCopy else {
            Issue.record("the sender copy was sent")
            return
        }
        #expect(error.code == .bodyTooLarge)
        #expect(copy.header.batchID == failure.batchID)

        // The caller resends the copy with a producer that can.
        let resent = try await MailroomProducer.withProducer(topic.producerConfiguration()) { producer in
            try await producer.submit(copy.serialized())
        }
        #expect(resent == failure.batchID)
        let (parts, copies) = try BatchSendTests.split(try await topic.consume(301))
        #expect(parts.count == 300 && copies.count == 1)
    }

    @Test("maxInFlight smaller than a batch: every record still goes, none waits forever")
    func smallInFlightLimit() async throws {
        let topic = try await BrokerTopic.make("batch-in-flight")
        let sender = Identity.generate()
        let messages = (0..<60).map { index in
            BulkMessage(recipient: Identity.generate().publicKey.hexString, body: [UInt8(index % 3)])
        }
        var configuration = topic.producerConfiguration()
        configuration.maxInFlight = 3
        configuration.batchRecipients = 25
        let report = try await MailroomProducer.withProducer(configuration) { producer in
            await producer.sendBulkReport(from: sender, messages: messages)
        }
        #expect(report.sent == 60)
        #expect(report.batches.map(\.messageIndices.count) == [20, 20, 20])
        #expect(report.batches.allSatisfy { $0.kind == .personalised && $0.senderCopy.isSent })
        let (parts, copies) = try BatchSendTests.split(try await topic.consume(63))
        #expect(parts.count == 60 && copies.count == 3)
    }
}
