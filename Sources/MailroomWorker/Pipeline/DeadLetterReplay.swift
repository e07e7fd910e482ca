import Foundation
public import Logging
import MailroomCore
public import MailroomKafka

/// Sends dead letters back to the envelope topic once their cause is fixed (`mailroom dlq replay`), and always
/// ends.
///
/// - A run replays only what was on the dead-letter topic when it started: each partition up to the end offset
///   captured at the start, and, past it, records older than the start (Tansu, the dev broker, reports the last
///   batch's base offset plus one as the end). The first newer record of a partition ends that partition for the
///   run; it and what follows stay uncommitted for the next run. So the dead letters a worker makes of this run's
///   own replays are never replayed by the same run.
/// - Every replayed record carries `mailroom.replay-count` (one more than its dead letter's; the worker copies
///   it onto the dead letter it makes of a replayed record). A dead letter replayed ``Configuration/maxReplays``
///   times already is skipped: a cause that persists is replayed a bounded number of times.
/// - Permanent reasons (``permanentReasons``: a forged or malformed envelope, a clash, an envelope too old) are
///   skipped unless asked for, by name (``Configuration/reason``) or all (``Configuration/includePermanent``).
///
/// Consumed dead letters are committed only after the broker acknowledged their replay (or they were skipped),
/// as consumer group ``Configuration/groupID``, so a second run continues where the first stopped.
public struct DeadLetterReplay: Sendable {
    public struct Configuration: Sendable {
        public var kafka: KafkaConfiguration
        public var topics: MailroomTopics = MailroomTopics()
        /// The consumer group that remembers how far replay got.
        public var groupID: String = "mailroom-dlq-replay"
        /// Replay only dead letters with this reason (a permanent one included); others are skipped.
        public var reason: String?
        /// Replay dead letters with permanent reasons too.
        public var includePermanent = false
        /// Dead letters whose envelope was replayed this many times already are skipped.
        public var maxReplays = 3
        /// Replay at most this many in the run.
        public var limit: Int?
        /// End the run after this long without a dead letter to handle.
        public var idleTimeout: Duration = .seconds(8)

        public init(kafka: KafkaConfiguration, topics: MailroomTopics = MailroomTopics()) {
            self.kafka = kafka
            self.topics = topics
        }
    }

    /// What a run did; every dead letter it consumed is counted once.
    public struct Report: Sendable, Equatable {
        public var replayed = 0
        /// Another reason than ``Configuration/reason``.
        public var skippedOtherReason = 0
        /// A permanent reason, not asked for.
        public var skippedPermanent = 0
        /// Replayed ``Configuration/maxReplays`` times already.
        public var skippedExhausted = 0
        /// The original record had no value.
        public var skippedEmpty = 0

        public init() {}

        public var skipped: Int { skippedOtherReason + skippedPermanent + skippedExhausted + skippedEmpty }
    }

    /// How long a run waits to be given the dead-letter topic's partitions.
    static let joinTimeout: Duration = .seconds(60)

    /// The header on replayed records and on the dead letters made of them: how many times the envelope was
    /// replayed.
    public static let replayCountHeader = "mailroom.replay-count"

    /// Reasons a replay cannot cure: the envelope's own faults, a record keyed wrongly or empty, an id clash,
    /// and an envelope past the age limit.
    public static let permanentReasons: Set<String> = Set(EnvelopeError.Code.verificationCodes.map(\.reason)).union([
        RejectionReason.emptyRecord, RejectionReason.keyMismatch, RejectionReason.envelopeTooOld,
        "duplicate_message_id",
    ])

    public var configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "mailroom.dlq")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Replays one run's worth; returns what it did.
    /// - Throws: ``KafkaError`` when the broker cannot be reached or refuses a replayed record; what was
    ///   acknowledged before stays committed.
    public func run() async throws -> Report {
        let producer = try KafkaProducer(.init(kafka: configuration.kafka), logger: logger)
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(
                .init(
                    kafka: configuration.kafka,
                    groupID: configuration.groupID,
                    topics: [configuration.topics.deadLetters]
                ),
                logger: logger
            )
        } catch {
            await producer.close()
            throw error
        }
        do {
            let report = try await replay(consumer: consumer, producer: producer)
            try await consumer.commit()
            await consumer.close()
            await producer.close()
            return report
        } catch {
            await consumer.close()
            await producer.close()
            throw error
        }
    }

    private func replay(consumer: KafkaConsumer, producer: KafkaProducer) async throws -> Report {
        let topic = configuration.topics.deadLetters
        let ends = try await producer.endOffsets(topic: topic)
        let startMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
        logger.info(
            "replaying dead letters",
            metadata: ["topic": "\(topic)", "end_offsets": "\(ends.values.reduce(0, +))"]
        )
        var report = Report()
        var finished = Set<Int32>()  // partitions that reached a record newer than this run
        // The idle clock starts once the group has given this member its partitions (joining takes seconds).
        let joinDeadline = ContinuousClock.now + Self.joinTimeout
        var lastHandled: ContinuousClock.Instant?
        let limit = configuration.limit ?? .max
        while report.replayed < limit, finished.count < ends.count,
            lastHandled.map({ ContinuousClock.now - $0 < configuration.idleTimeout }) ?? true
        {
            try Task.checkCancellation()
            let batch = await consumer.poll(maxRecords: 500, timeout: .milliseconds(500))
            if lastHandled == nil {
                if !consumer.assignment.isEmpty || !batch.records.isEmpty {
                    lastHandled = .now
                } else if ContinuousClock.now > joinDeadline {
                    throw KafkaError(
                        .timedOut,
                        message:
                            "no partitions of \(topic) were assigned to group \(configuration.groupID) within \(Self.joinTimeout)"
                    )
                }
            }
            var handled: [KafkaRecord] = []
            for record in batch.records where !finished.contains(record.partition) {
                let partition = record.partition
                let isOld =
                    record.offset < (ends[partition] ?? 0) || (record.timestampMilliseconds ?? .max) < startMilliseconds
                guard isOld else {
                    finished.insert(partition)
                    continue
                }
                if report.replayed >= limit { break }
                handled.append(record)
                try await handle(record, producer: producer, report: &report)
            }
            if !handled.isEmpty {
                lastHandled = .now
                try consumer.storeOffsets(after: handled)
            }
        }
        logger.info(
            "replay done",
            metadata: [
                "replayed": "\(report.replayed)", "skipped_permanent": "\(report.skippedPermanent)",
                "skipped_exhausted": "\(report.skippedExhausted)",
            ]
        )
        return report
    }

    private func handle(_ record: KafkaRecord, producer: KafkaProducer, report: inout Report) async throws {
        let reason = record.header(DeadLetterPublisher.Header.reason).map { String(decoding: $0, as: UTF8.self) } ?? ""
        if let wanted = configuration.reason, reason != wanted {
            report.skippedOtherReason += 1
            return
        }
        if configuration.reason == nil, !configuration.includePermanent, Self.permanentReasons.contains(reason) {
            report.skippedPermanent += 1
            return
        }
        if record.header(DeadLetterPublisher.Header.nullValue) != nil {
            report.skippedEmpty += 1
            return
        }
        let count = Self.replayCount(of: record)
        guard count < configuration.maxReplays else {
            report.skippedExhausted += 1
            return
        }
        _ = try await producer.send(
            topic: configuration.topics.envelopes,
            key: record.key ?? [],
            value: record.value ?? [],
            headers: [KafkaHeader(Self.replayCountHeader, "\(count + 1)")]
        )
        report.replayed += 1
    }

    /// The replay count a record carries (0 when it has none, or an unreadable one).
    static func replayCount(of record: KafkaRecord) -> Int {
        record.header(replayCountHeader).flatMap { Int(String(decoding: $0, as: UTF8.self)) }.map { max(0, $0) } ?? 0
    }
}
