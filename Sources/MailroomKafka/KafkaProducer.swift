public import Logging

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

    private let handle: RdKafkaProducerHandle
    private let inFlight: AsyncSemaphore
    private let logger: Logger

    /// Creates the producer (connecting lazily, in the background).
    /// - Throws: ``KafkaError`` with ``KafkaError/Code/configuration`` for a property librdkafka rejects.
    public init(_ configuration: Configuration, logger: Logger = Logger(label: "mailroom.kafka.producer")) throws(KafkaError) {
        handle = try RdKafkaProducerHandle(properties: configuration.kafka.producerProperties)
        inFlight = AsyncSemaphore(permits: max(1, configuration.maxInFlight))
        self.logger = logger
    }

    /// Sends one record and waits for the broker's acknowledgement.
    /// - Throws: ``KafkaError`` — ``KafkaError/Code/timedOut`` when the broker stayed unreachable for
    ///   `message.timeout.ms`, ``KafkaError/Code/messageTooLarge``, or ``KafkaError/Code/delivery``.
    public func send(
        topic: String, key: [UInt8], value: [UInt8], headers: [KafkaHeader] = []
    ) async throws(KafkaError) -> KafkaDeliveryReport {
        let delivery = OneShot<Result<KafkaDeliveryReport, KafkaError>>()
        await enqueue(topic: topic, key: key, value: value, headers: headers) { delivery.fulfill($0) }
        return try await delivery.value.get()
    }

    /// Queues one record, waiting only while too many records are in flight; `completion` runs once the
    /// broker acknowledged or refused it. For bulk sending: many records in flight, one task.
    public func enqueue(
        topic: String, key: [UInt8], value: [UInt8], headers: [KafkaHeader] = [],
        completion: @escaping @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void
    ) async {
        await inFlight.acquire()
        // The completion runs before the permit is returned, so a caller's own bookkeeping never lags it.
        let release: DeliveryCompletion = { [inFlight] result in
            completion(result)
            inFlight.release()
        }
        while true {
            switch handle.produce(topic: topic, key: key, value: value, headers: headers, completion: release) {
            case .queued:
                return
            case .failed(let error):
                release(.failure(error))
                return
            case .queueFull:
                // librdkafka's own queue is full (other producers share it): let deliveries drain.
                try? await Task.sleep(for: .milliseconds(2))
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
    public func endOffsets(topic: String, timeoutMilliseconds: Int32 = 10_000) async throws(KafkaError) -> [Int32: Int64] {
        try await handle.endOffsets(topic: topic, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Waits until every queued record is acknowledged or failed; returns how many are still in flight.
    @discardableResult
    public func flush(timeoutMilliseconds: Int32 = 30_000) async -> Int {
        await handle.flush(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Flushes, then destroys the client. Records still in flight after the timeout fail their sends.
    public func close(timeoutMilliseconds: Int32 = 30_000) async {
        let left = await flush(timeoutMilliseconds: timeoutMilliseconds)
        if left > 0 { logger.warning("closing producer with records in flight", metadata: ["records": "\(left)"]) }
        await handle.shutdown()
    }
}
