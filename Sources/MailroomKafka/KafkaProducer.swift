public import Logging
import Synchronization

/// Where the broker stored an acknowledged record.
public struct KafkaDeliveryReport: Sendable, Hashable {
    public var partition: Int32
    public var offset: Int64
}

/// A Kafka producer over librdkafka.
///
/// ``send(topic:key:value:headers:)`` returns once the broker has acknowledged the record (acks=all,
/// idempotent). At most ``Configuration/maxInFlight`` records are queued at once: further sends wait, which
/// bounds memory and passes backpressure to the caller.
///
/// When librdkafka declares the producer fatally failed (an idempotent producer fenced or out of sequence, as
/// after a broker that lost its producer state restarts), the producer replaces its librdkafka client and sends
/// the records that failed with it again, once: so a broker restart costs a resend, not every later send.
/// A record may then be on the topic twice; Mailroom's consumers store an envelope once whatever its copies.
public final class KafkaProducer: Sendable {
    /// Producer settings beyond librdkafka's properties.
    public struct Configuration: Sendable {
        public var kafka: KafkaConfiguration
        /// Records queued or awaiting acknowledgement at most; more sends wait.
        public var maxInFlight: Int = 50_000

        public init(kafka: KafkaConfiguration, maxInFlight: Int = 50_000) {
            self.kafka = kafka
            self.maxInFlight = maxInFlight
        }
    }

    /// The client records go to, and those replaced after a fatal error (kept until ``close(timeoutMilliseconds:)``,
    /// which flushes and releases each once).
    private struct Clients {
        var current: RdKafkaProducerHandle
        var retired: [RdKafkaProducerHandle] = []
    }

    private let clients: Mutex<Clients>
    private let properties: [String: String]
    private let inFlight: AsyncSemaphore
    private let logger: Logger

    /// The client records go to now.
    var handle: RdKafkaProducerHandle { clients.withLock { $0.current } }

    /// Creates the producer (connecting lazily, in the background).
    /// - Throws: ``KafkaError`` with ``KafkaError/Code/configuration`` for a property librdkafka rejects.
    public init(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "mailroom.kafka.producer")
    ) throws(KafkaError) {
        properties = configuration.kafka.producerProperties
        clients = Mutex(Clients(current: try RdKafkaProducerHandle(properties: properties)))
        inFlight = AsyncSemaphore(permits: max(1, configuration.maxInFlight))
        self.logger = logger
    }

    /// The client to use instead of `failed`, which librdkafka declared fatally failed: a new one the first
    /// time, the one that replaced it already after that; `nil` if none can be made.
    private func replacing(_ failed: RdKafkaProducerHandle) -> RdKafkaProducerHandle? {
        clients.withLock { clients in
            if clients.current !== failed { return clients.current }
            guard let fresh = try? RdKafkaProducerHandle(properties: properties) else { return nil }
            clients.retired.append(failed)
            clients.current = fresh
            logger.warning("the Kafka producer failed fatally (fenced after a broker restart?); sending with a new one")
            return fresh
        }
    }

    /// Sends one record and waits for the broker's acknowledgement.
    /// - Throws: ``KafkaError`` — ``KafkaError/Code/timedOut`` when the broker stayed unreachable for
    ///   `message.timeout.ms`, ``KafkaError/Code/messageTooLarge``, or ``KafkaError/Code/delivery``.
    public func send(
        topic: String,
        key: [UInt8],
        value: [UInt8],
        headers: [KafkaHeader] = []
    ) async throws(KafkaError) -> KafkaDeliveryReport {
        let delivery = OneShot<Result<KafkaDeliveryReport, KafkaError>>()
        await enqueue(topic: topic, key: key, value: value, headers: headers) { delivery.fulfill($0) }
        return try await delivery.value.get()
    }

    /// Queues one record, waiting only while too many records are in flight; `completion` runs once the
    /// broker acknowledged or refused it. For bulk sending: many records in flight, one task.
    public func enqueue(
        topic: String,
        key: [UInt8],
        value: [UInt8],
        headers: [KafkaHeader] = [],
        completion: @escaping @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void
    ) async {
        await inFlight.acquire()
        // The completion runs before the permit is returned, so a caller's own bookkeeping never lags it.
        let release: DeliveryCompletion = { [inFlight] result in
            completion(result)
            inFlight.release()
        }
        var client = handle
        var resent = false
        while true {
            let completion = resendingOnFatalError(
                client: client,
                topic: topic,
                key: key,
                value: value,
                headers: headers,
                release: release
            )
            switch client.produce(topic: topic, key: key, value: value, headers: headers, completion: completion) {
            case .queued:
                return
            case .failed(let error):
                if !resent, Self.needsNewClient(client, error), let fresh = replacing(client) {
                    client = fresh
                    resent = true
                    continue
                }
                release(.failure(error))
                return
            case .queueFull:
                // librdkafka's own queue is full (other producers share it): let deliveries drain; a cancelled
                // task stops waiting.
                if Task.isCancelled {
                    release(.failure(KafkaError(.client, message: "cancelled while librdkafka's queue was full")))
                    return
                }
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
    }

    /// Whether `client` can send no more: librdkafka declared it fatally failed, or the broker fenced its
    /// producer id (a restarted Tansu answers PRODUCER_FENCED to every later record of the old id, which
    /// librdkafka does not treat as fatal for an idempotent producer).
    private static func needsNewClient(_ client: RdKafkaProducerHandle, _ error: KafkaError) -> Bool {
        client.hasFatalError
            || ["PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH", "_FATAL"].contains(error.kafkaErrorName ?? "")
    }

    /// `release`, except that a record refused because `client` failed fatally is sent once more with the
    /// client that replaces it (from librdkafka's delivery thread: it does not wait for room).
    private func resendingOnFatalError(
        client: RdKafkaProducerHandle,
        topic: String,
        key: [UInt8],
        value: [UInt8],
        headers: [KafkaHeader],
        release: @escaping DeliveryCompletion
    ) -> DeliveryCompletion {
        { [self] result in
            guard case .failure(let error) = result, Self.needsNewClient(client, error), let fresh = replacing(client)
            else {
                release(result)
                return
            }
            switch fresh.produce(topic: topic, key: key, value: value, headers: headers, completion: release) {
            case .queued: break
            case .failed(let error): release(.failure(error))
            case .queueFull:
                release(.failure(KafkaError(.delivery, message: "resend after a fatal producer error: queue full")))
            }
        }
    }

    /// The number of partitions of `topic`.
    public func partitionCount(topic: String, timeoutMilliseconds: Int32 = 10_000) async throws(KafkaError) -> Int {
        try await handle.partitionCount(topic: topic, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Each partition of `topic` with its high-water mark as the broker reports it now: the offset after the
    /// last record on Kafka. (Tansu, the dev broker, reports the last batch's base offset plus one, so records of
    /// that batch after its first may lie at or past it.)
    public func endOffsets(
        topic: String,
        timeoutMilliseconds: Int32 = 10_000
    ) async throws(KafkaError) -> [Int32: Int64] {
        try await handle.endOffsets(topic: topic, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Waits until every queued record is acknowledged or failed; returns how many are still in flight.
    @discardableResult
    public func flush(timeoutMilliseconds: Int32 = 30_000) async -> Int {
        let (retired, current) = clients.withLock { ($0.retired, $0.current) }
        var left = 0
        for client in retired { left += await client.flush(timeoutMilliseconds: 0) }
        return left + (await current.flush(timeoutMilliseconds: timeoutMilliseconds))
    }

    /// Flushes, then destroys the clients. Records still in flight after the timeout fail their sends.
    public func close(timeoutMilliseconds: Int32 = 30_000) async {
        let left = await flush(timeoutMilliseconds: timeoutMilliseconds)
        if left > 0 { logger.warning("closing producer with records in flight", metadata: ["records": "\(left)"]) }
        let all = clients.withLock { $0.retired + [$0.current] }
        for client in all { await client.shutdown() }
    }
}
