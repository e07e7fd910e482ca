import Foundation
import MailroomCore
import MailroomKafka
import MailroomProducer
import MailroomTestSupport
import Synchronization

/// A fresh envelope topic on the test broker, and a way to read back what was produced to it.
struct BrokerTopic {
    let topics: MailroomTopics
    let kafka: KafkaConfiguration

    static func make(_ prefix: String) async throws -> BrokerTopic {
        let suffix = UInt32.random(in: 0...UInt32.max)
        let topics = MailroomTopics(envelopes: "\(prefix)-\(suffix)", deadLetters: "\(prefix)-dlq-\(suffix)")
        let kafka = KafkaConfiguration(brokers: try TestEnvironment.requireBrokers(), overrides: ["log_level": "3"])
        _ = try await KafkaAdmin.createTopics([topics.envelopes], partitions: 3, configuration: kafka)
        return BrokerTopic(topics: topics, kafka: kafka)
    }

    func producerConfiguration() -> MailroomProducer.Configuration {
        MailroomProducer.Configuration(kafka: kafka, topics: topics, sendTimeout: .seconds(20))
    }

    /// Reads until `count` records arrived (or 30 s passed), then a little longer to catch any extra one.
    func consume(_ count: Int) async throws -> [KafkaRecord] {
        let consumer = try KafkaConsumer(
            .init(kafka: kafka, groupID: "check-\(UInt32.random(in: 0...UInt32.max))", topics: [topics.envelopes])
        )
        var seen: [KafkaRecord] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while seen.count < count && ContinuousClock.now < deadline {
            seen += await consumer.poll(maxRecords: 500, timeout: .milliseconds(500)).records
        }
        seen += await consumer.poll(maxRecords: 500, timeout: .milliseconds(300)).records
        await consumer.close()
        return seen
    }
}

/// Progress reports as they arrive.
final class ProgressLog: Sendable {
    private let reports = Mutex<[BulkProgress]>([])

    func add(_ progress: BulkProgress) { reports.withLock { $0.append(progress) } }

    var last: BulkProgress? { reports.withLock { $0.max { $0.finished < $1.finished } } }
}
