internal import Foundation
public import Logging
public import MailroomCore
import MailroomEd25519
public import MailroomKafka
import Synchronization

/// Sends messages: seals and signs envelopes, and puts them on the envelope topic keyed by the recipient.
///
/// One message is a single envelope (format v1); a bulk send of many is sealed as batch envelopes (format v2,
/// ``sendBulk(from:messages:senderBody:progress:)``): every recipient's record keyed by the recipient, and one
/// sender copy per batch keyed by the sender. ``submit(_:)`` takes either format, sealed elsewhere.
///
/// Use it inside ``withProducer(_:logger:_:)``, which waits for what is in flight and closes the Kafka client
/// however the body ends, or call ``close()`` when done.
///
/// ```swift
/// try await MailroomProducer.withProducer(.init(kafka: KafkaConfiguration(brokers: "127.0.0.1:9092"))) { producer in
///     let id = try await producer.send(from: alice, to: bob.publicKey, body: Array("hello".utf8))
/// }
/// ```
public final class MailroomProducer: Sendable {
    /// Producer settings.
    public struct Configuration: Sendable {
        public var kafka: KafkaConfiguration
        public var topics: MailroomTopics = MailroomTopics()
        /// The body size limit; the worker must allow at least as much.
        public var limits: EnvelopeLimits = EnvelopeLimits()
        /// Envelopes queued or awaiting acknowledgement at most; bulk sends wait beyond it.
        public var maxInFlight: Int = 20_000
        /// How long the broker may stay unreachable before a send fails (`message.timeout.ms`).
        public var sendTimeout: Duration = .seconds(30)
        /// How far ahead of this clock a submitted envelope may be dated; the worker's own limit
        /// (`--max-clock-skew-s`, default 300 s) should be the same.
        public var maxClockSkew: Duration = .seconds(300)
        /// How long ago a submitted envelope may have been created; the worker's own limit
        /// (`--max-envelope-age-days`, default 7 days) should be the same.
        public var maxEnvelopeAge: Duration = .seconds(7 * 24 * 3600)
        /// The most recipients ``MailroomProducer/sendBulk(from:messages:senderBody:progress:)`` puts in one batch
        /// envelope (format v2); default 1,000, at most ``BatchLimits/formatMaxRecipients`` (larger values count
        /// as it, values below 1 as 1). A bulk send is split into batches of nearly equal size.
        public var batchRecipients: Int = 1_000
        /// The fewest messages a bulk send seals as batch envelopes; with fewer valid messages every message is a
        /// single envelope (format v1). Default 2: one message is always v1 (a batch of one costs an extra
        /// record, the sender's copy, for nothing).
        public var minBatchRecipients: Int = 2

        public init(
            kafka: KafkaConfiguration,
            topics: MailroomTopics = MailroomTopics(),
            limits: EnvelopeLimits = EnvelopeLimits(),
            maxInFlight: Int = 20_000,
            sendTimeout: Duration = .seconds(30),
            maxClockSkew: Duration = .seconds(300),
            batchRecipients: Int = 1_000
        ) {
            self.kafka = kafka
            self.topics = topics
            self.limits = limits
            self.maxInFlight = maxInFlight
            self.sendTimeout = sendTimeout
            self.maxClockSkew = maxClockSkew
            self.batchRecipients = batchRecipients
        }

        /// ``batchRecipients`` clamped to 1 through ``BatchLimits/formatMaxRecipients``.
        var effectiveBatchRecipients: Int { min(max(batchRecipients, 1), BatchLimits.formatMaxRecipients) }

        /// What a submitted batch value may hold: the body limit of ``limits``, the format's recipient limit.
        var submittedBatchLimits: BatchLimits { BatchLimits(maxBodyBytes: limits.maxBodyBytes) }
    }

    let producer: KafkaProducer
    let configuration: Configuration
    let logger: Logger
    /// Checks submitted envelopes' signatures, with tables for repeat senders (the default configuration: 1024
    /// keys in a release build), re-checked by libsodium.
    private let signatureVerifier: Ed25519Verifier
    /// Batches (format v2) whose signature verified, so that the records of one submitted batch cost one
    /// signature check between them, as in the worker.
    private let verifiedBatches = BatchSignatureCache()

    /// Creates the producer; it connects in the background.
    public init(_ configuration: Configuration, logger: Logger = Logger(label: "mailroom.producer")) throws(KafkaError)
    {
        var kafka = configuration.kafka
        let timeout = configuration.sendTimeout.components
        kafka.overrides["message.timeout.ms"] =
            kafka.overrides["message.timeout.ms"]
            ?? String(max(1, timeout.seconds * 1000 + timeout.attoseconds / 1_000_000_000_000_000))
        producer = try KafkaProducer(.init(kafka: kafka, maxInFlight: configuration.maxInFlight), logger: logger)
        self.configuration = configuration
        self.logger = logger
        signatureVerifier = Ed25519Verifier(logger: logger)
    }

    /// Seals `body` to `recipient`, signs it as `sender`, and returns once the broker acknowledged it.
    /// - Returns: the message id (a ULID), the same in both mailboxes.
    /// - Throws: ``ProducerError`` — ``ProducerError/Code/bodyTooLarge``, ``ProducerError/Code/brokerUnreachable``
    ///   past the send timeout, or ``ProducerError/Code/deliveryFailed``.
    @discardableResult
    public func send(
        from sender: Identity,
        to recipient: PublicKey,
        body: [UInt8]
    ) async throws(ProducerError) -> MessageID {
        let envelope: Envelope
        do {
            envelope = try Envelope.seal(from: sender, to: recipient, body: body, limits: configuration.limits)
        } catch {
            throw ProducerError(error)
        }
        do {
            _ = try await producer.send(
                topic: configuration.topics.envelopes,
                key: recipient.bytes,
                value: envelope.serialized()
            )
        } catch {
            throw ProducerError(error)
        }
        return envelope.id
    }

    /// Like ``send(from:to:body:)``, with the recipient as a Textile key string or 64 hex digits.
    /// - Throws: ``ProducerError/Code/invalidRecipientKey`` for a string that is not a valid public key.
    @discardableResult
    public func send(
        from sender: Identity,
        to recipient: String,
        body: [UInt8]
    ) async throws(ProducerError) -> MessageID {
        try await send(from: sender, to: try Self.parseRecipient(recipient), body: body)
    }

    /// Submits an envelope sealed and signed elsewhere — on the sender's own device, say — and returns once the
    /// broker acknowledged it. The producer never sees a private key.
    ///
    /// The value is one of:
    /// - a single envelope (format v1, first byte 1), keyed by its recipient;
    /// - one recipient's record of a batch envelope (format v2, first byte 2, part 1), keyed by its recipient;
    /// - the sender's copy of a batch envelope (format v2, part 2), keyed by the batch's sender.
    ///
    /// The bytes are checked as the worker checks them before anything reaches Kafka: the strict parse and the
    /// signature (`Envelope.verify`, about one libsodium verification: docs/BENCHMARKS.md, "Submit";
    /// `BatchRecipientEnvelope.verify` or `BatchSenderCopy.verify` for a batch value, with a signature cache so
    /// that the records of one batch cost one signature check between them), and the creation time against
    /// ``Configuration/maxClockSkew`` and ``Configuration/maxEnvelopeAge``. A batch value may name up to
    /// ``BatchLimits/formatMaxRecipients`` recipients, whatever ``Configuration/batchRecipients`` says. The worker
    /// verifies everything again: Kafka is not trusted.
    /// - Returns: the envelope's message id; for a recipient record the recipient's message id, for a sender's
    ///   copy the batch id (the sentbox entry's id).
    /// - Throws: ``ProducerError`` whose code is the envelope's reason (`truncated`, `bad_signature`,
    ///   `invalid_batch`, `batch_too_large`, `payload_mismatch`, `bad_merkle_path`, …, with
    ///   ``ProducerError/envelopeError``), ``ProducerError/Code/createdInFuture``,
    ///   ``ProducerError/Code/envelopeTooOld``, ``ProducerError/Code/brokerUnreachable`` or
    ///   ``ProducerError/Code/deliveryFailed``.
    @discardableResult
    public func submit(_ envelope: [UInt8]) async throws(ProducerError) -> MessageID {
        let checked = try Self.check(
            envelope,
            limits: configuration.limits,
            batchLimits: configuration.submittedBatchLimits,
            maxClockSkew: configuration.maxClockSkew,
            maxEnvelopeAge: configuration.maxEnvelopeAge,
            verifier: signatureVerifier,
            verifiedBatches: verifiedBatches
        )
        do {
            _ = try await producer.send(topic: configuration.topics.envelopes, key: checked.key, value: checked.value)
        } catch {
            throw ProducerError(error)
        }
        return checked.id
    }

    /// Submits many envelopes sealed elsewhere (single envelopes and batch values, mixed as they come), checking
    /// them on all cores while producing; every envelope gets a result, in input order, and an invalid one never
    /// reaches Kafka (see ``submit(_:)``). A batch's records may be submitted together: its signature is checked
    /// once.
    public func submitBulk(
        _ envelopes: [[UInt8]],
        progress: (@Sendable (BulkProgress) -> Void)? = nil
    ) async
        -> [BulkResult]
    {
        let limits = configuration.limits
        let batchLimits = configuration.submittedBatchLimits
        let skew = configuration.maxClockSkew
        let age = configuration.maxEnvelopeAge
        let verifier = signatureVerifier
        let verifiedBatches = verifiedBatches
        return await pipeline(envelopes, progress: progress) { bytes in
            Result { () throws(ProducerError) in
                try Self.check(
                    bytes,
                    limits: limits,
                    batchLimits: batchLimits,
                    maxClockSkew: skew,
                    maxEnvelopeAge: age,
                    verifier: verifier,
                    verifiedBatches: verifiedBatches
                )
            }
        }
    }

    /// What the worker would check of a submitted value, short of the mailboxes: dispatches on the first byte
    /// (2: a batch value, anything else: envelope v1, whose parse refuses other versions).
    static func check(
        _ bytes: [UInt8],
        limits: EnvelopeLimits,
        batchLimits: BatchLimits = BatchLimits(),
        maxClockSkew: Duration,
        maxEnvelopeAge: Duration = .seconds(7 * 24 * 3600),
        verifier: Ed25519Verifier = .libsodiumOnly,
        verifiedBatches: BatchSignatureCache? = nil
    ) throws(ProducerError) -> ProducerRecord {
        let record: ProducerRecord
        let createdAt: Int64
        do {
            if BatchRecordAssembly.isBatchValue(bytes) {
                if BatchRecordAssembly.isSenderCopy(bytes) {
                    let copy = try BatchSenderCopy.verify(
                        bytes,
                        limits: batchLimits,
                        using: verifier,
                        verifiedRoots: verifiedBatches
                    )
                    record = ProducerRecord(copy)
                    createdAt = copy.header.createdAtMilliseconds
                } else {
                    // Part 1, and anything else: the recipient parse names the reason (truncated, invalid_batch).
                    let envelope = try BatchRecipientEnvelope.verify(
                        bytes,
                        limits: batchLimits,
                        using: verifier,
                        verifiedRoots: verifiedBatches
                    )
                    record = ProducerRecord(envelope)
                    createdAt = envelope.createdAtMilliseconds
                }
            } else {
                let envelope = try Envelope.verify(bytes, limits: limits, using: verifier)
                record = ProducerRecord(envelope)
                createdAt = envelope.createdAtMilliseconds
            }
        } catch {
            throw ProducerError(refused: error)
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let ahead = createdAt - now
        if ahead > maxClockSkew.components.seconds * 1000 {
            throw ProducerError(.createdInFuture, "the envelope is dated \(ahead) ms ahead of this clock")
        }
        if -ahead > maxEnvelopeAge.components.seconds * 1000 {
            throw ProducerError(
                .envelopeTooOld,
                "the envelope was created \(-ahead / 1000) s ago; the most is \(maxEnvelopeAge.components.seconds) s"
            )
        }
        return record
    }

    /// Reads a recipient written as a Textile key string or as 64 hex digits.
    public static func parseRecipient(_ text: String) throws(ProducerError) -> PublicKey {
        do {
            return try PublicKey(string: text.trimmingWhitespace())
        } catch {
            throw ProducerError(.invalidRecipientKey, "\(error)")
        }
    }

    /// The bulk pipeline: `prepare` (sealing or checking) runs a chunk at a time on all cores, while the chunk
    /// before it is handed to librdkafka; at most ``Configuration/maxInFlight`` envelopes wait for the broker.
    func pipeline<Input: Sendable>(
        _ inputs: [Input],
        progress: (@Sendable (BulkProgress) -> Void)?,
        prepare: @escaping @Sendable (Input) -> Result<ProducerRecord, ProducerError>
    ) async -> [BulkResult] {
        guard !inputs.isEmpty else { return [] }
        let results = BulkResults(count: inputs.count, progress: progress)
        let chunkSize = 512
        var start = 0
        var preparedChunk = await Self.parallelMap(inputs[0..<min(chunkSize, inputs.count)], prepare)
        while start < inputs.count {
            let end = min(start + chunkSize, inputs.count)
            let nextEnd = min(end + chunkSize, inputs.count)
            async let nextChunk = Self.parallelMap(inputs[end..<nextEnd], prepare)
            for (offset, prepared) in preparedChunk.enumerated() {
                let index = start + offset
                switch prepared {
                case .failure(let error):
                    results.record(index, .failed(error))
                case .success(let record):
                    await producer.enqueue(
                        topic: configuration.topics.envelopes,
                        key: record.key,
                        value: record.value
                    ) { outcome in
                        switch outcome {
                        case .success(let report):
                            results.record(
                                index,
                                .sent(record.id, partition: report.partition, offset: report.offset)
                            )
                        case .failure(let error):
                            results.record(index, .failed(ProducerError(error)))
                        }
                    }
                }
            }
            preparedChunk = await nextChunk
            start = end
        }
        await results.waitForAll()
        return results.all
    }

    static func sealOne(
        _ message: BulkMessage,
        from sender: Identity,
        limits: EnvelopeLimits
    ) -> Result<ProducerRecord, ProducerError> {
        let recipient: PublicKey
        do {
            recipient = try parseRecipient(message.recipient)
        } catch {
            return .failure(error)
        }
        do {
            return .success(
                ProducerRecord(try Envelope.seal(from: sender, to: recipient, body: message.body, limits: limits))
            )
        } catch {
            return .failure(ProducerError(error))
        }
    }

    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body` with a new producer and closes it (waiting for every envelope in flight) when `body` returns
    /// or throws, so that no Kafka client or thread outlives it.
    /// - Throws: ``KafkaError`` when a Kafka property is refused, or what `body` throws.
    public static func withProducer<T: Sendable>(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "mailroom.producer"),
        _ body: (MailroomProducer) async throws -> T
    ) async throws -> T {
        let producer = try MailroomProducer(configuration, logger: logger)
        do {
            let value = try await body(producer)
            await producer.close()
            return value
        } catch {
            await producer.close()
            throw error
        }
    }

    /// Waits for every envelope in flight, then closes the Kafka client. Later calls do nothing.
    public func close() async {
        await producer.close()
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
