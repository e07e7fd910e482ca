/// librdkafka properties for Mailroom's producer, consumer and admin clients.
///
/// The defaults are Mailroom's choices (docs/ARCHITECTURE.md says why); ``overrides`` wins over all of them.
public struct KafkaConfiguration: Sendable {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092`.
    public var brokers: String
    /// `client.id`, shown in broker logs.
    public var clientID: String = "mailroom"
    /// Any other librdkafka property, applied last.
    public var overrides: [String: String] = [:]

    public init(brokers: String, clientID: String = "mailroom", overrides: [String: String] = [:]) {
        self.brokers = brokers
        self.clientID = clientID
        self.overrides = overrides
    }

    /// Producer defaults: every write acknowledged by all in-sync replicas, idempotent (no duplicates or
    /// reordering on retry), lz4-compressed, and keyed with Java's partitioner (`murmur2_random`) so that a
    /// recipient's mail lands on the same partition whichever client produced it.
    public var producerProperties: [String: String] {
        var properties: [String: String] = [
            "bootstrap.servers": brokers,
            "client.id": clientID,
            "enable.idempotence": "true",
            "acks": "all",
            "compression.type": "lz4",
            "partitioner": "murmur2_random",
            // Measured (docs/ARCHITECTURE.md, "Kafka settings"): 50 ms makes batches of ~40 envelopes per partition
            // at 5,000/s instead of ~8, a fifth of the produce requests; acknowledged p99 stays ~60 ms.
            "linger.ms": "50",
            "batch.size": "1000000",
            "queue.buffering.max.messages": "100000",
            "queue.buffering.max.kbytes": "262144",
            "message.timeout.ms": "30000",
            "socket.keepalive.enable": "true",
        ]
        properties.merge(overrides) { _, override in override }
        return properties
    }

    /// Whether the loaded librdkafka has `fetch.queue.backoff.ms` (2.1 and later), which lets the consumer fetch
    /// again soon after its prefetch queue was full; older ones wait a fixed 1 s.
    public static var consumerRefetchesPromptly: Bool { librdkafkaVersionNumber >= 0x0201_00ff }

    /// Consumer defaults for a consumer-group member: cooperative-sticky assignment (a rebalance moves only
    /// the partitions that must move), offsets stored by the application only after a batch is durable, and
    /// committed by librdkafka in the background and on revoke/close.
    public func consumerProperties(groupID: String) -> [String: String] {
        var properties: [String: String] = [
            "bootstrap.servers": brokers,
            "client.id": clientID,
            "group.id": groupID,
            "partition.assignment.strategy": "cooperative-sticky",
            "enable.auto.commit": "true",
            "auto.commit.interval.ms": "1000",
            "enable.auto.offset.store": "false",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "1000",
            "max.poll.interval.ms": "300000",
            "enable.partition.eof": "false",
            // Bounds the wait when a partition has nothing new; Tansu holds every fetch this long, so it is also
            // the fetch rate there (docs/ARCHITECTURE.md).
            "fetch.wait.max.ms": "25",
            // Prefetch bounds: enough for several full batches, small enough to keep a worker's memory low.
            "queued.max.messages.kbytes": "8192",
            "queued.min.messages": "20000",
            "fetch.max.bytes": "4194304",
            "socket.keepalive.enable": "true",
        ]
        // When the prefetch queue is full, librdkafka postpones the next fetch by this much: its default, 1 s,
        // let a draining worker empty the queue and then idle while the next fetch went out (BENCHMARKS.md).
        // The property exists from librdkafka 2.1 (before it, the wait is a fixed 1 s).
        if Self.consumerRefetchesPromptly {
            properties["fetch.queue.backoff.ms"] = "10"
        }
        properties.merge(overrides) { _, override in override }
        return properties
    }

    /// Admin client properties.
    public var adminProperties: [String: String] {
        var properties = ["bootstrap.servers": brokers, "client.id": clientID]
        properties.merge(overrides) { _, override in override }
        return properties
    }
}
