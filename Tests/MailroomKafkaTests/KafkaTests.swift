import Foundation
import MailroomTestSupport
import Synchronization
import Testing

@testable import MailroomKafka

@Suite("Java-compatible partitioning")
struct Murmur2Tests {
    /// Apache Kafka's own vectors (UtilsTest.testMurmur2).
    @Test func referenceImplementationMatchesJavaVectors() {
        let cases: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), ("abc", 479_470_107),
        ]
        for (input, expected) in cases {
            #expect(JavaMurmur2.hash(Array(input.utf8)) == expected, "\(input)")
        }
    }
}

@Suite("Kafka client against the real broker", .enabled(if: TestEnvironment.hasBroker), .serialized)
struct KafkaClientTests {
    static func configuration(_ overrides: [String: String] = [:]) throws -> KafkaConfiguration {
        KafkaConfiguration(
            brokers: try TestEnvironment.requireBrokers(),
            clientID: "mailroom-tests",
            overrides: overrides
        )
    }

    static func uniqueTopic(_ name: String) -> String { "\(name)-\(UInt32.random(in: 0...UInt32.max))" }

    @Test func createsTopicsIdempotently() async throws {
        let topic = Self.uniqueTopic("admin")
        let first = try await KafkaAdmin.createTopics([topic], partitions: 3, configuration: try Self.configuration())
        #expect(first[topic] == .created)
        let second = try await KafkaAdmin.createTopics([topic], partitions: 3, configuration: try Self.configuration())
        #expect(second[topic] == .alreadyExists)
        let producer = try KafkaProducer(.init(kafka: try Self.configuration()))
        #expect(try await producer.partitionCount(topic: topic) == 3)
        await producer.close()
    }

    @Test func producerPlacesKeysWhereAJavaProducerWould() async throws {
        let topic = Self.uniqueTopic("murmur")
        let partitions = 7
        _ = try await KafkaAdmin.createTopics([topic], partitions: partitions, configuration: try Self.configuration())
        let producer = try KafkaProducer(.init(kafka: try Self.configuration()))
        var checked = 0
        for index in 0..<120 {
            // Keys shaped like Mailroom's (32-byte public keys), plus short ones that exercise the tail cases.
            var key = (0..<32).map { _ in UInt8.random(in: 0...255) }
            if index % 4 != 0 { key = Array(key.prefix(index % 4 + 4 * (index % 3))) }
            let report = try await producer.send(topic: topic, key: key, value: [1, 2, 3])
            #expect(report.partition == JavaMurmur2.partition(for: key, partitions: partitions), "key \(key)")
            checked += 1
        }
        #expect(checked == 120)
        await producer.close()
    }

    @Test func consumerGroupReadsEveryRecordWithHeadersInKeyOrder() async throws {
        let topic = Self.uniqueTopic("roundtrip")
        _ = try await KafkaAdmin.createTopics([topic], partitions: 4, configuration: try Self.configuration())
        let producer = try KafkaProducer(.init(kafka: try Self.configuration(), maxInFlight: 64))
        let keys: [[UInt8]] = (0..<8).map { [UInt8](repeating: UInt8($0), count: 32) }
        let total = 800
        let failures = Atomic<Int>(0)
        for index in 0..<total {
            let key = keys[index % keys.count]
            var value = [UInt8](repeating: 0, count: 8)
            value.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(index).bigEndian, as: UInt64.self) }
            await producer.enqueue(
                topic: topic,
                key: key,
                value: value,
                headers: [KafkaHeader("index", "\(index)"), KafkaHeader("empty", nil)]
            ) { result in
                if case .failure = result { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(await producer.flush() == 0)
        #expect(failures.load(ordering: .relaxed) == 0)
        await producer.close()

        let consumer = try KafkaConsumer(
            .init(kafka: try Self.configuration(), groupID: "group-\(topic)", topics: [topic])
        )
        var seen: [[UInt8]: [Int]] = [:]
        var count = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while count < total && ContinuousClock.now < deadline {
            let batch = await consumer.poll(maxRecords: 500, timeout: .milliseconds(500))
            for record in batch.records {
                let index = Int(record.value!.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) })
                #expect(record.header("index").map { String(decoding: $0, as: UTF8.self) } == "\(index)")
                #expect(record.headers.contains(KafkaHeader("empty", nil)))
                seen[record.key!, default: []].append(index)
                count += 1
            }
            try consumer.storeOffsets(after: batch.records)
        }
        #expect(count == total)
        for (_, indices) in seen {
            #expect(indices == indices.sorted(), "a key's records arrived out of order")
        }
        #expect(consumer.assignment.count == 4)
        let rebalances = consumer.takeRebalances()
        #expect(rebalances.contains { if case .assigned(let partitions) = $0 { !partitions.isEmpty } else { false } })
        try await consumer.commit()
        await consumer.close()

        // A new member of the same group starts after the committed offsets: nothing is read twice.
        let again = try KafkaConsumer(
            .init(kafka: try Self.configuration(), groupID: "group-\(topic)", topics: [topic])
        )
        var reread = 0
        let until = ContinuousClock.now + .seconds(8)
        while ContinuousClock.now < until {
            reread += await again.poll(maxRecords: 500, timeout: .milliseconds(500)).records.count
            if !again.assignment.isEmpty && reread == 0 && ContinuousClock.now > until - .seconds(3) { break }
        }
        #expect(reread == 0)
        await again.close()
    }

    @Test func boundedInFlightStillDeliversEverything() async throws {
        let topic = Self.uniqueTopic("backpressure")
        _ = try await KafkaAdmin.createTopics([topic], partitions: 2, configuration: try Self.configuration())
        let producer = try KafkaProducer(.init(kafka: try Self.configuration(), maxInFlight: 8))
        let inFlight = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let delivered = Atomic<Int>(0)
        for index in 0..<2_000 {
            let now = inFlight.add(1, ordering: .relaxed).newValue
            var current = peak.load(ordering: .relaxed)
            while now > current {
                let (exchanged, original) = peak.compareExchange(expected: current, desired: now, ordering: .relaxed)
                if exchanged { break }
                current = original
            }
            await producer.enqueue(
                topic: topic,
                key: Array("k\(index % 10)".utf8),
                value: [UInt8](repeating: 7, count: 100)
            ) { result in
                inFlight.subtract(1, ordering: .relaxed)
                if case .success = result { delivered.add(1, ordering: .relaxed) }
            }
        }
        await producer.flush()
        #expect(delivered.load(ordering: .relaxed) == 2_000)
        // The counter is bumped before `enqueue` waits, so it can read one above the limit.
        #expect(peak.load(ordering: .relaxed) <= 9)
        await producer.close()
    }

    @Test func tooLargeRecordIsATypedError() async throws {
        let producer = try KafkaProducer(.init(kafka: try Self.configuration()))
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(
                topic: Self.uniqueTopic("big"),
                key: [1],
                value: [UInt8](repeating: 0, count: 2_000_000)
            )
        }
        #expect(error?.code == .messageTooLarge)
        await producer.close()
    }
}

@Suite("Kafka client failures")
struct KafkaFailureTests {
    @Test func unreachableBrokerTimesOutWithATypedError() async throws {
        let configuration = KafkaConfiguration(
            brokers: "127.0.0.1:1",
            overrides: ["message.timeout.ms": "1500", "log_level": "0"]
        )
        let producer = try KafkaProducer(.init(kafka: configuration))
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(topic: "nowhere", key: [1], value: [2])
        }
        #expect(error?.code == .timedOut)
        await producer.close(timeoutMilliseconds: 100)
    }

    /// A send, a flush or a metadata call after `close()` fails with a typed error instead of reaching the
    /// destroyed librdkafka client; closing twice is harmless.
    @Test func aSendAfterCloseFailsWithATypedError() async throws {
        let configuration = KafkaConfiguration(brokers: "127.0.0.1:1", overrides: ["log_level": "0"])
        let producer = try KafkaProducer(.init(kafka: configuration))
        await producer.close(timeoutMilliseconds: 100)
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(topic: "nowhere", key: [1], value: [2])
        }
        #expect(error?.code == .client)
        #expect(error.map { "\($0)".contains("closed") } == true)
        #expect(await producer.flush(timeoutMilliseconds: 10) == 0)
        let metadata = await #expect(throws: KafkaError.self) {
            _ = try await producer.partitionCount(topic: "nowhere", timeoutMilliseconds: 10)
        }
        #expect(metadata?.code == .client)
        await producer.close(timeoutMilliseconds: 100)
    }

    /// Calls on a consumer after `close()` find no client instead of reaching the destroyed one (each of these
    /// used it unchecked); closing twice is harmless.
    @Test func aConsumerUsedAfterCloseFindsNoClient() async throws {
        let consumer = try KafkaConsumer(
            .init(
                kafka: KafkaConfiguration(brokers: "127.0.0.1:1", overrides: ["log_level": "0"]),
                groupID: "closed-\(UInt32.random(in: 0...UInt32.max))",
                topics: ["nowhere"]
            )
        )
        await consumer.close()
        let partition = KafkaTopicPartition(topic: "nowhere", partition: 0)
        let record = KafkaRecord(
            topic: "nowhere",
            partition: 0,
            offset: 7,
            key: nil,
            value: [1],
            headers: [],
            timestampMilliseconds: nil
        )
        #expect(throws: KafkaError.self) { try consumer.storeOffsets(after: [record]) }
        consumer.setPaused(true)
        #expect(consumer.assignment.isEmpty)
        #expect(consumer.cachedHighWatermark(partition) == nil)
        await #expect(throws: KafkaError.self) { try await consumer.commit() }
        #expect(await consumer.poll(maxRecords: 10, timeout: .milliseconds(10)).records.isEmpty)
        await consumer.close()
    }

    /// A handle whose last reference is a record's completion is released on its own poll thread (inside
    /// `rd_kafka_poll`): the release moves to another thread instead of the poll thread waiting for itself.
    @Test func aHandleReleasedByItsLastCompletionDoesNotWaitForItself() async throws {
        weak var released: RdKafkaProducerHandle?
        var thread: RdKafkaPollThread?
        do {
            let handle = try RdKafkaProducerHandle(properties: [
                "bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": "100", "log_level": "0",
            ])
            released = handle
            thread = handle.pollThread
            // The completion holds the handle; once it has run on the poll thread, nothing else does.
            let outcome = handle.produce(topic: "nowhere", key: [1], value: [2], headers: []) { _ in _ = handle }
            guard case .queued = outcome else {
                Issue.record("the record was not queued")
                return
            }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while thread?.finished.load(ordering: .acquiring) != true, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(thread?.finished.load(ordering: .acquiring) == true, "the poll thread never ended")
        #expect(released == nil)
    }

    /// A producer dropped without `close()` is released: its poll thread ends and its librdkafka client is
    /// destroyed (the thread holding the handle kept both alive for ever).
    @Test func aProducerDroppedWithoutCloseEndsItsPollThread() throws {
        let configuration = KafkaConfiguration(brokers: "127.0.0.1:1", overrides: ["log_level": "0"])
        weak var released: RdKafkaProducerHandle?
        var thread: RdKafkaPollThread?
        do {
            let producer = try KafkaProducer(.init(kafka: configuration))
            released = producer.handle
            thread = producer.handle.pollThread
            #expect(thread?.running.load(ordering: .acquiring) == true)
        }
        #expect(released == nil)
        #expect(thread?.finished.load(ordering: .acquiring) == true)
    }

    @Test func badPropertyIsAConfigurationError() {
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(.init(kafka: KafkaConfiguration(brokers: "x", overrides: ["no.such.property": "1"])))
        }
        #expect(error?.code == .configuration)
        #expect(error.map { "\($0)".contains("no.such.property") } == true)
    }
}

@Suite("Kafka client defaults")
struct KafkaDefaultsTests {
    /// librdkafka's default wait of 1 s after a full prefetch queue let a draining worker run dry every ~16,000
    /// records and idle ~200 ms (docs/BENCHMARKS.md); the consumer now looks again after 10 ms.
    @Test func consumerLooksAgainSoonAfterAFullPrefetchQueue() async throws {
        // The scripts run the tests with librdkafka 2.16; the property exists from 2.1.
        #expect(librdkafkaVersionNumber >= 0x0201_00ff)
        #expect(KafkaConfiguration.consumerRefetchesPromptly)
        let properties = KafkaConfiguration(brokers: "127.0.0.1:1").consumerProperties(groupID: "defaults")
        #expect(properties["fetch.queue.backoff.ms"] == "10")
        // An operator's override still wins.
        let overridden = KafkaConfiguration(brokers: "127.0.0.1:1", overrides: ["fetch.queue.backoff.ms": "100"])
        #expect(overridden.consumerProperties(groupID: "defaults")["fetch.queue.backoff.ms"] == "100")
        // The loaded librdkafka accepts every default (a rejected property throws here).
        let consumer = try KafkaConsumer(
            .init(
                kafka: KafkaConfiguration(brokers: "127.0.0.1:1", overrides: ["log_level": "0"]),
                groupID: "defaults",
                topics: ["defaults"]
            )
        )
        await consumer.close()
    }
}
