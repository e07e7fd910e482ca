internal import CRdKafka
internal import Foundation
import Synchronization

/// What the broker said about one record.
typealias DeliveryCompletion = @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void

/// Boxes a completion so that it can ride through librdkafka as the message's opaque pointer.
private final class DeliveryBox {
    let completion: DeliveryCompletion
    init(_ completion: @escaping DeliveryCompletion) { self.completion = completion }
}

/// The poll thread's side of a producer: it holds this, never the handle, so that a handle dropped without
/// ``RdKafkaProducerHandle/shutdown()`` is released (its `deinit` stops the thread and destroys the client).
final class RdKafkaPollThread: Sendable {
    /// Cleared to ask the thread to end.
    let running = Atomic<Bool>(true)
    /// Set by the thread as its last step.
    let finished = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    /// The thread's `pthread_t`, once it runs.
    private let threadID = Atomic<UInt>(0)

    /// Starts a thread that serves `client`'s callbacks until ``stop()``.
    init(client: OpaquePointer, name: String) {
        // An OpaquePointer is not Sendable; the thread only polls the client, which librdkafka allows from any
        // thread, and the client outlives the thread (it is destroyed after ``stop()`` returns).
        nonisolated(unsafe) let client = client
        let thread = Thread { [self] in
            threadID.store(UInt(pthread_self()), ordering: .releasing)
            while running.load(ordering: .acquiring) {
                rd_kafka_poll(client, 50)
            }
            finished.store(true, ordering: .releasing)
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Whether the caller runs on this poll thread (e.g. a delivery completion that dropped the last reference).
    var isCurrentThread: Bool { threadID.load(ordering: .acquiring) == UInt(pthread_self()) }

    /// Asks the thread to end and waits for it (at most one poll interval, 50 ms); once only. Never call it on the
    /// poll thread itself (``isCurrentThread``): it would wait for itself.
    func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        done.wait()
    }
}

/// Owns an `rd_kafka_t` producer and the thread that serves its delivery reports (`rd_kafka_poll`).
///
/// `produce` never blocks: librdkafka queues the record and returns; the completion runs on the poll thread
/// once the broker acknowledged (or finally refused) it. The client is destroyed exactly once: by
/// ``shutdown()``, or by `deinit` for a handle dropped without it.
///
/// `@unchecked Sendable`: `client` is a C pointer the compiler cannot reason about. Every use of it holds
/// `usable`'s lock or runs on `blockingQueue` after checking it, and it is destroyed only once `usable` is false.
final class RdKafkaProducerHandle: @unchecked Sendable {
    private let client: OpaquePointer
    /// The thread that serves the client's delivery reports.
    let pollThread: RdKafkaPollThread
    private let blockingQueue = DispatchQueue(label: "mailroom.kafka.producer.blocking")
    /// Whether `client` may be used: set false under the lock, before the client is destroyed, so a produce
    /// racing a shutdown either finishes first or fails with ``closedError`` (never touches a freed client).
    private let usable = Mutex(true)

    /// What a record sent after ``shutdown()`` fails with.
    static var closedError: KafkaError { KafkaError(.client, message: "the producer is closed") }

    init(properties: [String: String]) throws(KafkaError) {
        let conf = try RdKafkaConfig.make(properties)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message, let opaque = message.pointee._private else { return }
            let box = Unmanaged<DeliveryBox>.fromOpaque(opaque).takeRetainedValue()
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                box.completion(
                    .success(KafkaDeliveryReport(partition: message.pointee.partition, offset: message.pointee.offset))
                )
            } else {
                let code: KafkaError.Code =
                    err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT
                    ? .timedOut
                    : err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? .messageTooLarge : .delivery
                box.completion(.failure(rdKafkaError(code, err, context: "delivery failed")))
            }
        }
        client = try makeRdKafkaClient(type: RD_KAFKA_PRODUCER, conf: conf)
        pollThread = RdKafkaPollThread(client: client, name: "mailroom-kafka-producer-poll")
    }

    /// A handle dropped without ``shutdown()``: stop the poll thread, fail what is queued, release the client.
    /// Dropped by a delivery completion on the poll thread itself (inside `rd_kafka_poll`), the release moves to
    /// another thread: the poll thread cannot wait for itself, and librdkafka forbids destroying a client from its
    /// own callback.
    deinit {
        guard
            usable.withLock({ usable in
                defer { usable = false }
                return usable
            })
        else { return }
        guard pollThread.isCurrentThread else { return Self.destroy(client, pollThread) }
        nonisolated(unsafe) let client = client
        let pollThread = pollThread
        DispatchQueue.global().async { Self.destroy(client, pollThread) }
    }

    /// Stops the poll thread, fails every record still queued or in flight (their completions run), destroys
    /// the client.
    private static func destroy(_ client: OpaquePointer, _ pollThread: RdKafkaPollThread) {
        pollThread.stop()
        _ = rd_kafka_purge(client, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        rd_kafka_poll(client, 0)
        rd_kafka_destroy(client)
    }

    /// Queues one record. Throws `.queueFull` when librdkafka's queue is full (the caller waits and retries).
    func produce(
        topic: String,
        key: [UInt8],
        value: [UInt8],
        headers: [KafkaHeader],
        completion: @escaping DeliveryCompletion
    ) -> ProduceOutcome {
        usable.withLock { usable in
            guard usable else { return .failed(Self.closedError) }
            return produceOpen(topic: topic, key: key, value: value, headers: headers, completion: completion)
        }
    }

    /// ``produce(topic:key:value:headers:completion:)`` on a client known to be alive.
    private func produceOpen(
        topic: String,
        key: [UInt8],
        value: [UInt8],
        headers: [KafkaHeader],
        completion: @escaping DeliveryCompletion
    ) -> ProduceOutcome {
        let box = Unmanaged.passRetained(DeliveryBox(completion))
        let error: OpaquePointer? = topic.withCString { topicPointer in
            key.withUnsafeBytes { keyBytes in
                value.withUnsafeBytes { valueBytes in
                    withHeaderNames(headers) { headerNames in
                        var values = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 5 + headers.count)
                        values[0].vtype = RD_KAFKA_VTYPE_TOPIC
                        values[0].u.cstr = topicPointer
                        values[1].vtype = RD_KAFKA_VTYPE_KEY
                        values[1].u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
                        values[1].u.mem.size = keyBytes.count
                        values[2].vtype = RD_KAFKA_VTYPE_VALUE
                        values[2].u.mem.ptr = UnsafeMutableRawPointer(mutating: valueBytes.baseAddress)
                        values[2].u.mem.size = valueBytes.count
                        values[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                        values[3].u.i = RD_KAFKA_MSG_F_COPY
                        values[4].vtype = RD_KAFKA_VTYPE_OPAQUE
                        values[4].u.ptr = box.toOpaque()
                        // Header values are copied by librdkafka; keep their storage alive across the call.
                        return withHeaderValues(headers) { headerValues in
                            for (index, header) in headers.enumerated() {
                                values[5 + index].vtype = RD_KAFKA_VTYPE_HEADER
                                values[5 + index].u.header.name = headerNames[index]
                                values[5 + index].u.header.val = headerValues[index]
                                values[5 + index].u.header.size = header.value.map { $0.count } ?? -1
                            }
                            return values.withUnsafeMutableBufferPointer { buffer in
                                rd_kafka_produceva(client, buffer.baseAddress, buffer.count)
                            }
                        }
                    }
                }
            }
        }
        guard let error else { return .queued }
        box.release()
        let code = rd_kafka_error_code(error)
        rd_kafka_error_destroy(error)
        if code == RD_KAFKA_RESP_ERR__QUEUE_FULL { return .queueFull }
        let kind: KafkaError.Code = code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? .messageTooLarge : .delivery
        return .failed(rdKafkaError(kind, code, context: "produce failed"))
    }

    /// Whether librdkafka declared this producer fatally failed (for an idempotent producer: the broker fenced
    /// it or lost its sequence state, as a restarted Tansu does). Every later record fails; only a new
    /// producer can send.
    var hasFatalError: Bool {
        usable.withLock { $0 && rd_kafka_fatal_error(client, nil, 0) != RD_KAFKA_RESP_ERR_NO_ERROR }
    }

    enum ProduceOutcome {
        case queued
        case queueFull
        case failed(KafkaError)
    }

    /// Waits (on a thread of its own, not the cooperative pool) until every queued record is acknowledged or
    /// failed, or the timeout passes. Returns the number of records still in flight.
    func flush(timeoutMilliseconds: Int32) async -> Int {
        await withCheckedContinuation { continuation in
            blockingQueue.async { [self] in
                guard usable.withLock({ $0 }) else { return continuation.resume(returning: 0) }
                _ = rd_kafka_flush(client, timeoutMilliseconds)
                continuation.resume(returning: Int(rd_kafka_outq_len(client)))
            }
        }
    }

    /// Partitions of a topic, from the broker's metadata.
    func partitionCount(topic: String, timeoutMilliseconds: Int32) async throws(KafkaError) -> Int {
        let result: Result<Int, KafkaError> = await withCheckedContinuation { continuation in
            blockingQueue.async { [self] in
                guard usable.withLock({ $0 }) else { return continuation.resume(returning: .failure(Self.closedError)) }
                continuation.resume(
                    returning: RdKafkaMetadata.partitionCount(
                        client: client,
                        topic: topic,
                        timeoutMilliseconds: timeoutMilliseconds
                    )
                )
            }
        }
        return try result.get()
    }

    /// Each partition's high-water mark, asked of the broker.
    func endOffsets(topic: String, timeoutMilliseconds: Int32) async throws(KafkaError) -> [Int32: Int64] {
        let result: Result<[Int32: Int64], KafkaError> = await withCheckedContinuation { continuation in
            blockingQueue.async { [self] in
                guard usable.withLock({ $0 }) else { return continuation.resume(returning: .failure(Self.closedError)) }
                continuation.resume(
                    returning: RdKafkaMetadata.endOffsets(
                        client: client,
                        topic: topic,
                        timeoutMilliseconds: timeoutMilliseconds
                    )
                )
            }
        }
        return try result.get()
    }

    /// Stops the poll thread and destroys the client; later calls return at once. Call
    /// ``flush(timeoutMilliseconds:)`` first: undelivered records fail their completions here.
    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            blockingQueue.async { [self] in
                // No produce is inside the client once `usable` is false; only the first caller destroys it.
                if usable.withLock({ usable in
                    defer { usable = false }
                    return usable
                }) {
                    Self.destroy(client, pollThread)
                }
                continuation.resume()
            }
        }
    }
}

private func withHeaderNames<R>(_ headers: [KafkaHeader], _ body: ([UnsafePointer<CChar>]) -> R) -> R {
    let copies = headers.map { strdup($0.name)! }
    defer { for copy in copies { free(copy) } }
    return body(copies.map { UnsafePointer($0) })
}

private func withHeaderValues<R>(_ headers: [KafkaHeader], _ body: ([UnsafeRawPointer?]) -> R) -> R {
    let copies: [UnsafeMutableRawPointer?] = headers.map { header in
        guard let value = header.value else { return nil }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(value.count, 1), alignment: 1)
        value.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: value.count) }
        return pointer
    }
    defer { for copy in copies { copy?.deallocate() } }
    return body(copies.map { $0.map { UnsafeRawPointer($0) } })
}
