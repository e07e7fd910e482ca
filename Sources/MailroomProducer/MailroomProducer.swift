internal import Foundation
public import Logging
public import MailroomCore
import MailroomEd25519
public import MailroomKafka
import Synchronization

/// Sends messages: seals and signs envelopes, and puts them on the envelope topic keyed by the recipient.
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

        public init(
            kafka: KafkaConfiguration,
            topics: MailroomTopics = MailroomTopics(),
            limits: EnvelopeLimits = EnvelopeLimits(),
            maxInFlight: Int = 20_000,
            sendTimeout: Duration = .seconds(30),
            maxClockSkew: Duration = .seconds(300)
        ) {
            self.kafka = kafka
            self.topics = topics
            self.limits = limits
            self.maxInFlight = maxInFlight
            self.sendTimeout = sendTimeout
            self.maxClockSkew = maxClockSkew
        }
    }

    private let producer: KafkaProducer
    private let configuration: Configuration
    private let logger: Logger
    /// Checks submitted envelopes' signatures, with tables for repeat senders (the default configuration: 1024
    /// keys in a release build), re-checked by libsodium.
    private let signatureVerifier: Ed25519Verifier

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
    /// The bytes are checked as the worker checks them before anything reaches Kafka: the strict parse and the
    /// signature (`Envelope.verify`, about one libsodium verification: docs/BENCHMARKS.md, "Submit"), and the
    /// creation time against ``Configuration/maxClockSkew``. The record is keyed by the envelope's recipient.
    /// The worker verifies everything again: Kafka is not trusted.
    /// - Returns: the envelope's message id.
    /// - Throws: ``ProducerError`` whose code is the envelope's reason (`truncated`, `bad_signature`, …, with
    ///   ``ProducerError/envelopeError``), ``ProducerError/Code/createdInFuture``,
    ///   ``ProducerError/Code/brokerUnreachable`` or ``ProducerError/Code/deliveryFailed``.
    @discardableResult
    public func submit(_ envelope: [UInt8]) async throws(ProducerError) -> MessageID {
        let verified = try Self.check(
            envelope,
            limits: configuration.limits,
            maxClockSkew: configuration.maxClockSkew,
            maxEnvelopeAge: configuration.maxEnvelopeAge,
            verifier: signatureVerifier
        )
        do {
            _ = try await producer.send(
                topic: configuration.topics.envelopes,
                key: verified.recipient.bytes,
                value: verified.serialized()
            )
        } catch {
            throw ProducerError(error)
        }
        return verified.id
    }

    /// Submits many envelopes sealed elsewhere, checking them on all cores while producing; every envelope gets
    /// a result, in input order, and an invalid one never reaches Kafka (see ``submit(_:)``).
    public func submitBulk(
        _ envelopes: [[UInt8]],
        progress: (@Sendable (BulkProgress) -> Void)? = nil
    ) async
        -> [BulkResult]
    {
        let limits = configuration.limits
        let skew = configuration.maxClockSkew
        let age = configuration.maxEnvelopeAge
        let verifier = signatureVerifier
        return await pipeline(envelopes, progress: progress) { bytes in
            Result { () throws(ProducerError) in
                try Self.check(bytes, limits: limits, maxClockSkew: skew, maxEnvelopeAge: age, verifier: verifier)
            }
        }
    }

    /// What the worker would check of a submitted envelope, short of the mailboxes.
    static func check(
        _ bytes: [UInt8],
        limits: EnvelopeLimits,
        maxClockSkew: Duration,
        maxEnvelopeAge: Duration = .seconds(7 * 24 * 3600),
        verifier: Ed25519Verifier = .libsodiumOnly
    ) throws(ProducerError) -> Envelope {
        let envelope: Envelope
        do {
            envelope = try Envelope.verify(bytes, limits: limits, using: verifier)
        } catch {
            throw ProducerError(refused: error)
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let ahead = envelope.createdAtMilliseconds - now
        if ahead > maxClockSkew.components.seconds * 1000 {
            throw ProducerError(.createdInFuture, "the envelope is dated \(ahead) ms ahead of this clock")
        }
        if -ahead > maxEnvelopeAge.components.seconds * 1000 {
            throw ProducerError(
                .envelopeTooOld,
                "the envelope was created \(-ahead / 1000) s ago; the most is \(maxEnvelopeAge.components.seconds) s"
            )
        }
        return envelope
    }

    /// Reads a recipient written as a Textile key string or as 64 hex digits.
    public static func parseRecipient(_ text: String) throws(ProducerError) -> PublicKey {
        do {
            return try PublicKey(string: text.trimmingWhitespace())
        } catch {
            throw ProducerError(.invalidRecipientKey, "\(error)")
        }
    }

    /// Sends many messages from one sender — onboarding invites, say — sealing on all cores while producing.
    ///
    /// Memory stays bounded: envelopes are sealed a chunk at a time, and no more than
    /// ``Configuration/maxInFlight`` wait for the broker. Every message gets a result, in input order.
    /// - Parameters:
    ///   - messages: recipients (Textile key string or hex) and their bodies.
    ///   - progress: called (from any thread) as results arrive, with the number finished so far.
    public func sendBulk(
        from sender: Identity,
        messages: [BulkMessage],
        progress: (@Sendable (BulkProgress) -> Void)? = nil
    ) async -> [BulkResult] {
        let limits = configuration.limits
        return await pipeline(messages, progress: progress) { message in
            Self.sealOne(message, from: sender, limits: limits)
        }
    }

    /// The bulk pipeline: `prepare` (sealing or checking) runs a chunk at a time on all cores, while the chunk
    /// before it is handed to librdkafka; at most ``Configuration/maxInFlight`` envelopes wait for the broker.
    private func pipeline<Input: Sendable>(
        _ inputs: [Input],
        progress: (@Sendable (BulkProgress) -> Void)?,
        prepare: @escaping @Sendable (Input) -> Result<Envelope, ProducerError>
    ) async -> [BulkResult] {
        let results = BulkResults(count: inputs.count, progress: progress)
        let chunkSize = 512
        var start = 0
        var preparedChunk = await Self.prepare(inputs[0..<min(chunkSize, inputs.count)], with: prepare)
        while start < inputs.count {
            let end = min(start + chunkSize, inputs.count)
            let nextEnd = min(end + chunkSize, inputs.count)
            async let nextChunk = Self.prepare(inputs[end..<nextEnd], with: prepare)
            for (offset, prepared) in preparedChunk.enumerated() {
                let index = start + offset
                switch prepared {
                case .failure(let error):
                    results.record(index, .failed(error))
                case .success(let envelope):
                    await producer.enqueue(
                        topic: configuration.topics.envelopes,
                        key: envelope.recipient.bytes,
                        value: envelope.serialized()
                    ) { outcome in
                        switch outcome {
                        case .success(let report):
                            results.record(
                                index,
                                .sent(envelope.id, partition: report.partition, offset: report.offset)
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

    /// Prepares a chunk, split across the cores.
    private static func prepare<Input: Sendable>(
        _ chunk: ArraySlice<Input>,
        with prepare: @escaping @Sendable (Input) -> Result<Envelope, ProducerError>
    ) async -> [Result<Envelope, ProducerError>] {
        guard !chunk.isEmpty else { return [] }
        let parts = max(1, min(Self.cores, chunk.count / 16))
        let base = chunk.startIndex
        let size = (chunk.count + parts - 1) / parts
        return await withTaskGroup(of: (Int, [Result<Envelope, ProducerError>]).self) { group in
            for part in 0..<parts {
                let lower = base + part * size
                let upper = min(lower + size, chunk.endIndex)
                guard lower < upper else { continue }
                let slice = Array(chunk[lower..<upper])
                group.addTask { (part, slice.map(prepare)) }
            }
            var pieces = [[Result<Envelope, ProducerError>]](repeating: [], count: parts)
            for await (part, prepared) in group { pieces[part] = prepared }
            return pieces.flatMap { $0 }
        }
    }

    private static func sealOne(
        _ message: BulkMessage,
        from sender: Identity,
        limits: EnvelopeLimits
    ) -> Result<Envelope, ProducerError> {
        let recipient: PublicKey
        do {
            recipient = try parseRecipient(message.recipient)
        } catch {
            return .failure(error)
        }
        do {
            return .success(try Envelope.seal(from: sender, to: recipient, body: message.body, limits: limits))
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

/// One message of a bulk send.
public struct BulkMessage: Sendable {
    /// A Textile key string or 64 hex digits.
    public var recipient: String
    public var body: [UInt8]

    public init(recipient: String, body: [UInt8]) {
        self.recipient = recipient
        self.body = body
    }
}

/// What happened to one message of a bulk send.
public enum BulkResult: Sendable {
    case sent(MessageID, partition: Int32, offset: Int64)
    case failed(ProducerError)

    public var isSent: Bool {
        if case .sent = self { return true }
        return false
    }
}

/// Progress of a bulk send.
public struct BulkProgress: Sendable {
    public var finished: Int
    public var failed: Int
    public var total: Int
}

/// Collects bulk results from librdkafka's delivery thread.
private final class BulkResults: Sendable {
    private struct State {
        var results: [BulkResult?]
        var finished = 0
        var failed = 0
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>
    private let progress: (@Sendable (BulkProgress) -> Void)?
    private let total: Int

    init(count: Int, progress: (@Sendable (BulkProgress) -> Void)?) {
        state = Mutex(State(results: [BulkResult?](repeating: nil, count: count)))
        self.progress = progress
        total = count
    }

    func record(_ index: Int, _ result: BulkResult) {
        let (snapshot, waiter): (BulkProgress, CheckedContinuation<Void, Never>?) = state.withLock { state in
            state.results[index] = result
            state.finished += 1
            if !result.isSent { state.failed += 1 }
            var waiter: CheckedContinuation<Void, Never>?
            if state.finished == total {
                waiter = state.waiter
                state.waiter = nil
            }
            return (BulkProgress(finished: state.finished, failed: state.failed, total: total), waiter)
        }
        progress?(snapshot)
        waiter?.resume()
    }

    func waitForAll() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.finished == total { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }

    var all: [BulkResult] {
        state.withLock { $0.results.map { $0 ?? .failed(ProducerError(.deliveryFailed, "no result")) } }
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
