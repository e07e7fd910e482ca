import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomKafka
import MailroomProducer
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

/// Kafka over verified TLS: a broker-only dev stack of its own with `MAILROOM_KAFKA_TLS=1` (its port speaks TLS
/// only, with a certificate from the stack's own CA). A producer and a worker configured from the stack's
/// librdkafka properties file (the file `MAILROOM_KAFKA_PROPERTIES_FILE` names) store mail over it; a client that
/// trusts another CA gets nothing from the broker.
@Suite("Kafka over verified TLS", .enabled(if: TestEnvironment.hasDatabase && TestEnvironment.devStack != nil))
struct KafkaTLSTests {
    @Test func theWorkerStoresOverTLSAndAClientTrustingAnotherCAIsRefused() async throws {
        let port = try FreePort.reserve()
        let name = "kafka-tls-\(UInt32.random(in: 0...UInt32.max))"
        let stack = ["MAILROOM_STACK": name, "MAILROOM_KAFKA_TLS": "1", "MAILROOM_KAFKA_PORT": "\(port)"]
        try TestEnvironment.devStack("kafka-start", environment: stack)
        defer { try? TestEnvironment.devStack("down", "--purge", environment: stack) }

        let state = TestEnvironment.packageRoot.appendingPathComponent(".dev/stacks/\(name)")
        // Read as `--kafka-properties-file` reads it (a file others may read is refused).
        var overrides = Dictionary(
            try Secrets.properties(
                file: state.appendingPathComponent("kafka-client.properties").path,
                for: "Kafka properties"
            ).map { ($0.key, $0.value) },
            uniquingKeysWith: { $1 }
        )
        #expect(overrides["security.protocol"] == "SSL")
        #expect(overrides["ssl.ca.location"] == state.appendingPathComponent("kafka-ca.crt").path)
        overrides["log_level"] = "3"
        let kafka = KafkaConfiguration(brokers: "127.0.0.1:\(port)", clientID: "mailroom-tests", overrides: overrides)

        let database = try await TestDatabase.create()
        let migrations = try Migration.load(from: TestEnvironment.packageRoot.appendingPathComponent("Migrations"))
        try await database.withConnection { connection in _ = try await Migrator().migrate(migrations, on: connection) }
        let topics = MailroomTopics(envelopes: "envelopes", deadLetters: "dead-letters")
        _ = try await KafkaAdmin.createTopics(
            [topics.envelopes, topics.deadLetters],
            partitions: 2,
            configuration: kafka
        )
        let harness = PipelineHarness(
            database: database,
            topics: topics,
            group: "tls-workers-\(UInt32.random(in: 0...UInt32.max))",
            kafka: kafka
        )
        do {
            try await run(harness)
        } catch {
            await harness.drop()
            throw error
        }
        await harness.drop()
    }

    private func run(_ harness: PipelineHarness) async throws {
        let sender = Identity.generate()
        let recipient = Identity.generate()
        try await harness.setUpMailboxes([sender, recipient])
        let producer = try harness.producer()
        var sent: [MessageID] = []
        for n in 0..<20 {
            sent.append(try await producer.send(from: sender, to: recipient.publicKey, body: Array("m\(n)".utf8)))
        }
        await producer.close()
        let worker = harness.startWorker(name: "tls-worker")
        #expect(try await harness.eventually { try await harness.inboxCount() == 20 })
        try await worker.stop()
        #expect(worker.worker.statistics.snapshot.stored == 20)

        // A client that trusts another CA: the handshake fails (certificate verify failed), so no metadata.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mailroom-kafka-tls-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var untrusting = harness.kafka
        untrusting.overrides["ssl.ca.location"] = try Self.otherCA(in: folder)
        untrusting.overrides["log_level"] = "0"
        let stranger = try KafkaProducer(.init(kafka: untrusting))
        await #expect(throws: KafkaError.self) {
            _ = try await stranger.partitionCount(topic: harness.topics.envelopes, timeoutMilliseconds: 5_000)
        }
        await stranger.close(timeoutMilliseconds: 0)
    }

    /// A self-signed CA that signed nothing the broker presents.
    static func otherCA(in folder: URL) throws -> String {
        let path = folder.appendingPathComponent("other-ca.crt").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=not the stack's CA",
            "-keyout", folder.appendingPathComponent("other-ca.key").path, "-out", path,
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw TestSupportError("openssl req failed") }
        return path
    }
}
