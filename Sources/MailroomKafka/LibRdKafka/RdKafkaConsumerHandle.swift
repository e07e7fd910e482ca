internal import CRdKafka
internal import Foundation
import Synchronization

/// Receives group rebalances, on whichever thread librdkafka serves them (the polling one).
final class RebalanceListener: Sendable {
    let onAssign: @Sendable ([KafkaTopicPartition]) -> Void
    let onRevoke: @Sendable ([KafkaTopicPartition]) -> Void
    let startingOffsets: (@Sendable ([KafkaTopicPartition]) -> [KafkaTopicPartition: Int64])?
    let onRewind: @Sendable (KafkaTopicPartition, Int64, Int64) -> Void

    init(
        onAssign: @escaping @Sendable ([KafkaTopicPartition]) -> Void,
        onRevoke: @escaping @Sendable ([KafkaTopicPartition]) -> Void,
        startingOffsets: (@Sendable ([KafkaTopicPartition]) -> [KafkaTopicPartition: Int64])? = nil,
        onRewind: @escaping @Sendable (KafkaTopicPartition, Int64, Int64) -> Void = { _, _, _ in }
    ) {
        self.onAssign = onAssign
        self.onRevoke = onRevoke
        self.startingOffsets = startingOffsets
        self.onRewind = onRewind
    }

    /// Before an assignment takes effect: sets the offset of each partition whose sink-recorded next offset
    /// is before the group's committed one (``KafkaConsumer/Configuration/startingOffsets``). A partition
    /// without a committed offset keeps the reset policy (earliest), which skips nothing either.
    func applyStartingOffsets(client: OpaquePointer, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>)
    {
        guard let startingOffsets, partitions.pointee.cnt > 0 else { return }
        let recorded = startingOffsets(RdKafkaPartitionList.entries(partitions))
        guard !recorded.isEmpty, let committed = rd_kafka_topic_partition_list_copy(partitions) else { return }
        defer { rd_kafka_topic_partition_list_destroy(committed) }
        guard rd_kafka_committed(client, committed, 10_000) == RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        for index in 0..<Int(committed.pointee.cnt) {
            let entry = committed.pointee.elems[index]
            let partition = KafkaTopicPartition(topic: String(cString: entry.topic), partition: entry.partition)
            guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR, entry.offset >= 0, let start = recorded[partition],
                start >= 0, start < entry.offset
            else { continue }
            rd_kafka_topic_partition_list_find(partitions, entry.topic, entry.partition)?.pointee.offset = start
            onRewind(partition, entry.offset, start)
        }
    }
}

/// Owns an `rd_kafka_t` consumer-group member. Blocking calls (`consume_batch_queue`, `commit`,
/// `consumer_close`) run on its own serial queue, never on Swift's cooperative pool.
/// (`@unchecked Sendable`: `client` and `queue` are C pointers; librdkafka's consumer API is thread-safe, the
/// blocking calls are serialised on `blockingQueue`, every other call holds the `destroyed` lock, and both are
/// destroyed once, under that lock, after `closed` is set.)
final class RdKafkaConsumerHandle: @unchecked Sendable {
    private let client: OpaquePointer
    private let queue: OpaquePointer
    private let listener: RebalanceListener
    private let blockingQueue = DispatchQueue(label: "mailroom.kafka.consumer")
    private let commitQueue = DispatchQueue(label: "mailroom.kafka.consumer.commit")
    private let closed = Atomic<Bool>(false)
    /// Whether the client is destroyed: set under the lock, which every call from outside the blocking queue
    /// holds while it uses the client, so none reaches a destroyed client.
    private let destroyed = Mutex(false)

    /// `body`'s result on a live client, or `fallback` once it is destroyed.
    private func withClient<R>(_ fallback: R, _ body: () -> R) -> R {
        var result = fallback
        destroyed.withLock { destroyed in if !destroyed { result = body() } }
        return result
    }

    init(properties: [String: String], topics: [String], listener: RebalanceListener) throws(KafkaError) {
        self.listener = listener
        let conf = try RdKafkaConfig.make(properties)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(listener).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf) { client, err, partitions, opaque in
            guard let client, let opaque else { return }
            let listener = Unmanaged<RebalanceListener>.fromOpaque(opaque).takeUnretainedValue()
            let cooperative = rd_kafka_rebalance_protocol(client).map { String(cString: $0) } == "COOPERATIVE"
            let changed = RdKafkaPartitionList.entries(partitions)
            switch err {
            case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                if let partitions { listener.applyStartingOffsets(client: client, partitions: partitions) }
                if cooperative {
                    if let error = rd_kafka_incremental_assign(client, partitions) { rd_kafka_error_destroy(error) }
                } else {
                    _ = rd_kafka_assign(client, partitions)
                }
                listener.onAssign(changed)
            case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
                listener.onRevoke(changed)
                if cooperative {
                    if let error = rd_kafka_incremental_unassign(client, partitions) { rd_kafka_error_destroy(error) }
                } else {
                    _ = rd_kafka_assign(client, nil)
                }
            default:
                _ = rd_kafka_assign(client, nil)
            }
        }
        let client = try makeRdKafkaClient(type: RD_KAFKA_CONSUMER, conf: conf)
        self.client = client
        _ = rd_kafka_poll_set_consumer(client)
        queue = rd_kafka_queue_get_consumer(client)
        let list = RdKafkaPartitionList.make(topics.map { ($0, RD_KAFKA_PARTITION_UA, 0) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_subscribe(client, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_queue_destroy(queue)
            rd_kafka_destroy(client)
            throw rdKafkaError(.client, err, context: "subscribe")
        }
    }

    /// Waits up to `timeoutMilliseconds` for records and returns at most `maxRecords` (also serves rebalances).
    /// Message-level errors (e.g. a broker going away) are returned separately; they are not records.
    func poll(maxRecords: Int, timeoutMilliseconds: Int32) async -> (records: [KafkaRecord], errors: [KafkaError]) {
        await withCheckedContinuation { continuation in
            blockingQueue.async { [self] in
                continuation.resume(
                    returning: pollBlocking(maxRecords: maxRecords, timeoutMilliseconds: timeoutMilliseconds)
                )
            }
        }
    }

    private func pollBlocking(
        maxRecords: Int,
        timeoutMilliseconds: Int32
    ) -> (records: [KafkaRecord], errors: [KafkaError]) {
        if closed.load(ordering: .acquiring) { return ([], []) }
        var buffer = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: maxRecords)
        let count = buffer.withUnsafeMutableBufferPointer { pointer in
            rd_kafka_consume_batch_queue(queue, Int32(timeoutMilliseconds), pointer.baseAddress, maxRecords)
        }
        guard count > 0 else { return ([], []) }
        var records: [KafkaRecord] = []
        var errors: [KafkaError] = []
        records.reserveCapacity(count)
        // A batch's records share a few topics: each name is made into a String once, not once per record.
        var topicNames: [OpaquePointer: String] = [:]
        for index in 0..<count {
            guard let message = buffer[index] else { continue }
            defer { rd_kafka_message_destroy(message) }
            let err = message.pointee.err
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                errors.append(rdKafkaError(.client, err, context: "consume"))
                continue
            }
            records.append(Self.copy(message, topicNames: &topicNames))
        }
        return (records, errors)
    }

    private static func copy(
        _ message: UnsafeMutablePointer<rd_kafka_message_t>,
        topicNames: inout [OpaquePointer: String]
    ) -> KafkaRecord {
        let m = message.pointee
        var topic = ""
        if let handle = m.rkt {
            if let known = topicNames[handle] {
                topic = known
            } else {
                topic = rd_kafka_topic_name(handle).map { String(cString: $0) } ?? ""
                topicNames[handle] = topic
            }
        }
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        var headers: [KafkaHeader] = []
        var headerList: OpaquePointer?
        if rd_kafka_message_headers(message, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
            var index = 0
            var name: UnsafePointer<CChar>?
            var valuePointer: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(headerList, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR
            {
                let headerValue = valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(name.map { String(cString: $0) } ?? "", headerValue))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return KafkaRecord(
            topic: topic,
            partition: m.partition,
            offset: m.offset,
            key: key,
            value: value,
            headers: headers,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
    }

    /// Stores the next offsets to commit (`offset` = last processed + 1). Non-blocking.
    func storeOffsets(_ offsets: [KafkaTopicPartition: Int64]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = RdKafkaPartitionList.make(offsets.map { ($0.key.topic, $0.key.partition, $0.value) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = withClient(RD_KAFKA_RESP_ERR__DESTROY) { rd_kafka_offsets_store(client, list) }
        // A partition revoked meanwhile reports _STATE per element; the new owner re-reads those records, and
        // the idempotent write makes that harmless. Only a whole-call failure is an error.
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__STATE {
            throw rdKafkaError(.offsets, err, context: "store offsets")
        }
    }

    /// Commits the stored offsets now and waits for the broker.
    func commit() async throws(KafkaError) {
        let err: rd_kafka_resp_err_t = await withCheckedContinuation { continuation in
            commitQueue.async { [self] in
                continuation.resume(
                    returning: withClient(RD_KAFKA_RESP_ERR__DESTROY) { rd_kafka_commit(client, nil, 0) }
                )
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
            throw rdKafkaError(.offsets, err, context: "commit")
        }
    }

    /// Pauses or resumes fetching from every assigned partition (the worker pauses while PostgreSQL is down,
    /// and keeps polling so the group does not evict it).
    func setPaused(_ paused: Bool) {
        withClient(()) {
            var assignment: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            guard rd_kafka_assignment(client, &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR, let assignment else { return }
            defer { rd_kafka_topic_partition_list_destroy(assignment) }
            _ = paused ? rd_kafka_pause_partitions(client, assignment) : rd_kafka_resume_partitions(client, assignment)
        }
    }

    /// The partitions currently assigned to this member.
    func assignment() -> [KafkaTopicPartition] {
        withClient([]) {
            var assignment: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            guard rd_kafka_assignment(client, &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR, let assignment else {
                return []
            }
            defer { rd_kafka_topic_partition_list_destroy(assignment) }
            return RdKafkaPartitionList.entries(assignment)
        }
    }

    /// The broker's high-water mark as last reported in fetch responses (cached, non-blocking).
    func cachedHighWatermark(_ partition: KafkaTopicPartition) -> Int64? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = withClient(RD_KAFKA_RESP_ERR__DESTROY) {
            rd_kafka_get_watermark_offsets(client, partition.topic, partition.partition, &low, &high)
        }
        return err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
    }

    /// A handle dropped without ``close()``: the client is destroyed (librdkafka leaves the group as it does),
    /// exactly once, on a dispatch queue: destroying blocks, and the last reference may go on any thread.
    deinit {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        nonisolated(unsafe) let (client, queue) = (client, queue)
        DispatchQueue.global().async {
            rd_kafka_queue_destroy(queue)
            rd_kafka_destroy(client)
        }
    }

    /// Commits, leaves the group (so partitions move at once rather than after the session timeout), and
    /// destroys the client; later calls return at once, and calls on the handle afterwards find no client.
    func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            blockingQueue.async { [self] in
                _ = withClient(RD_KAFKA_RESP_ERR__DESTROY) { rd_kafka_commit(client, nil, 0) }
                _ = rd_kafka_consumer_close(client)
                destroyed.withLock { destroyed in
                    destroyed = true
                    rd_kafka_queue_destroy(queue)
                    rd_kafka_destroy(client)
                }
                continuation.resume()
            }
        }
    }
}
