import ArgumentParser
import Foundation
import Logging
import MailroomCLISupport
import MailroomCore
import MailroomKafka
import MailroomWorker
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

struct WorkerCommand: AsyncParsableCommand {
    /// glibc's allocator, tuned so that the worker's resident memory follows what it holds:
    /// - two arenas: glibc gives each thread that meets contention one of its own (up to 8 per core) and keeps
    ///   freed batch buffers in each (measured: peak RSS 146 → 127 MB under a 200,000 backlog, same ingest);
    /// - blocks of 256 KiB or more (a batch's `COPY` stream, its arrays) mapped and unmapped on their own rather
    ///   than kept in an arena once freed; glibc otherwise raises that threshold as large blocks are freed
    ///   (measured: peak RSS 131–147 → 126 MB, docs/BENCHMARKS.md).
    /// An operator's `MALLOC_ARENA_MAX` or `MALLOC_MMAP_THRESHOLD_` wins.
    static func tuneMalloc(_ environment: [String: String]) {
        #if canImport(Glibc)
        // mallopt(M_ARENA_MAX = -8, 2), mallopt(M_MMAP_THRESHOLD = -3, 256 KiB); looked up at run time because
        // Glibc's Swift module leaves out malloc.h.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        if environment["MALLOC_ARENA_MAX"] == nil { _ = mallopt(-8, 2) }
        if environment["MALLOC_MMAP_THRESHOLD_"] == nil { _ = mallopt(-3, 256 << 10) }
        #endif
    }

    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker: consume envelopes, verify them, write them to the mailboxes.",
        discussion: """
            Workers with the same --group share the envelope topic's partitions (cooperative-sticky). SIGTERM or \
            SIGINT finishes the batch in hand, commits its offsets, leaves the group and exits 0. Settings also come \
            from the environment: \(WorkerSetting.list).
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions

    @Option(help: "Consumer group (default: $MAILROOM_WORKER_GROUP or mailroom-workers).") var group: String?
    @Option(name: .customLong("batch-size"), help: "Records per batch at most (default 2000).") var batchSize: Int?
    @Option(name: .customLong("batch-linger-ms"), help: "Milliseconds to wait to fill a batch (default 20).")
    var batchLinger: Int?
    @Option(
        name: .customLong("write-queue"),
        help: "Verified batches that may be written or wait to be, at most (default 3)."
    ) var writeQueue: Int?
    @Option(name: .customLong("write-queue-mb"), help: "MiB of envelopes those batches may hold together (default 64).")
    var writeQueueMegabytes: Int?
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics on this port (default: off).")
    var metricsPort: Int?
    @Option(name: .customLong("metrics-host"), help: "Address the metrics endpoint binds (default 127.0.0.1).")
    var metricsHost: String?
    @Option(name: .customLong("max-body-bytes"), help: "Largest body accepted (default 65536).") var maxBodyBytes: Int?
    @Option(
        name: .customLong("max-clock-skew-s"),
        help: "Seconds an envelope may be dated in the future (default 300)."
    ) var maxClockSkew: Int?
    @Option(
        name: .customLong("max-envelope-age-days"),
        help: "Days after its creation an envelope is still accepted (default 7)."
    ) var maxEnvelopeAgeDays: Double?
    @Option(
        name: .customLong("mailbox-quota"),
        help: "Most messages an inbox may hold unless it has its own limit; 0 for none (default 100000)."
    ) var mailboxQuota: Int64?
    @Option(
        name: .customLong("mailbox-bytes-quota-mb"),
        help: "Most MiB of sealed bodies an inbox may hold unless it has its own limit; 0 for none (default 1024)."
    ) var mailboxBytesQuota: Int64?
    @Option(
        name: .customLong("sender-share-percent"),
        help: "Most of an inbox's message quota one sender may hold, in percent; 100 for no cap (default 25)."
    ) var senderSharePercent: Int64?
    @Option(
        name: .customLong("pair-rate-burst"),
        help: "New messages one sender may send one recipient at once; 0 for no limit (default 500)."
    ) var pairRateBurst: Double?
    @Option(name: .customLong("pair-rate-per-s"), help: "Messages per second that limit refills (default 1).")
    var pairRatePerSecond: Double?
    @Option(
        name: .customLong("sender-rate-burst"),
        help: "New messages one sender may send at once, per worker; 0 for no limit (default 100000)."
    ) var senderRateBurst: Double?
    @Option(name: .customLong("sender-rate-per-s"), help: "Messages per second that limit refills (default 2000).")
    var senderRatePerSecond: Double?
    @Option(
        name: .customLong("precomputed-keys"),
        help:
            "Sender keys given a precomputed signature-check table, 15 KiB each; 0 for libsodium alone (default 1024)."
    ) var precomputedKeys: Int?
    @Option(name: .customLong("name"), help: "This worker's name on dead letters (default host-pid).") var workerName:
        String?

    func run() async throws {
        try await reportingErrors {
            let environment = ProcessInfo.processInfo.environment
            Self.tuneMalloc(environment)
            func setting(_ value: Int?, _ name: WorkerSetting) -> Int? {
                value ?? environment[name.rawValue].flatMap(Int.init)
            }

            var configuration = WorkerConfiguration(
                kafka: try kafka.configuration(clientID: "mailroom-worker"),
                databaseURL: try database.resolvedURL()
            )
            configuration.topics = kafka.topics
            configuration.groupID = group ?? environment[WorkerSetting.group.rawValue] ?? configuration.groupID
            if let size = setting(batchSize, .batchSize) { configuration.batchSize = max(1, size) }
            if let linger = setting(batchLinger, .batchLingerMilliseconds) {
                configuration.batchLinger = .milliseconds(max(0, linger))
            }
            if let depth = setting(writeQueue, .writeQueueDepth) { configuration.writeQueueDepth = max(1, depth) }
            if let megabytes = setting(writeQueueMegabytes, .writeQueueMegabytes) {
                configuration.writeQueueBytes = max(1, megabytes) << 20
            }
            if let bytes = setting(maxBodyBytes, .maxBodyBytes) {
                configuration.limits = EnvelopeLimits(maxBodyBytes: bytes)
            }
            if let skew = setting(maxClockSkew, .maxClockSkewSeconds) { configuration.maxClockSkew = .seconds(skew) }
            if let days = maxEnvelopeAgeDays
                ?? environment[WorkerSetting.maxEnvelopeAgeDays.rawValue].flatMap(Double.init)
            {
                guard days > 0 else { throw CLIError("--max-envelope-age-days must be a positive number of days") }
                configuration.maxEnvelopeAge = .milliseconds(Int64(days * 86_400_000))
            }
            if let quota = mailboxQuota ?? environment[WorkerSetting.mailboxQuota.rawValue].flatMap(Int64.init) {
                configuration.mailboxQuota = quota > 0 ? quota : nil
            }
            func number(_ value: Double?, _ name: WorkerSetting) throws -> Double? {
                guard let value = value ?? environment[name.rawValue].flatMap(Double.init) else { return nil }
                guard value >= 0, value.isFinite else { throw CLIError("\(name.rawValue) must be a number ≥ 0") }
                return value
            }
            func limit(_ current: RateLimit?, burst: Double?, perSecond: Double?) -> RateLimit? {
                guard burst != nil || perSecond != nil else { return current }
                let burst = burst ?? current?.burst ?? 0
                let perSecond = perSecond ?? current?.perSecond ?? 0
                return burst > 0 && perSecond > 0 ? RateLimit(burst: burst, perSecond: perSecond) : nil
            }
            configuration.pairRateLimit = limit(
                configuration.pairRateLimit,
                burst: try number(pairRateBurst, .pairRateBurst),
                perSecond: try number(pairRatePerSecond, .pairRatePerSecond)
            )
            configuration.senderRateLimit = limit(
                configuration.senderRateLimit,
                burst: try number(senderRateBurst, .senderRateBurst),
                perSecond: try number(senderRatePerSecond, .senderRatePerSecond)
            )
            if let megabytes = mailboxBytesQuota
                ?? environment[WorkerSetting.mailboxBytesQuotaMegabytes.rawValue].flatMap(Int64.init)
            {
                configuration.mailboxByteQuota = megabytes > 0 ? megabytes << 20 : nil
            }
            if let percent = senderSharePercent
                ?? environment[WorkerSetting.senderSharePercent.rawValue].flatMap(Int64.init)
            {
                guard (1...100).contains(percent) else {
                    throw CLIError("\(WorkerSetting.senderSharePercent.rawValue) must be 1 to 100 (100: no cap)")
                }
                configuration.senderSharePercent = percent < 100 ? percent : nil
            }
            if let keys = setting(precomputedKeys, .precomputedKeys) { configuration.precomputedKeys = max(0, keys) }
            if let workerName { configuration.workerName = workerName }

            let logger = CLILogging.logger("worker")
            // Metrics are bootstrapped before the worker exists, so that its instruments report to Prometheus.
            var endpoint: MetricsEndpoint?
            if let port = setting(metricsPort, .metricsPort) {
                let registry = PrometheusCollectorRegistry()
                MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
                endpoint = MetricsEndpoint(
                    host: metricsHost ?? environment[WorkerSetting.metricsHost.rawValue] ?? "127.0.0.1",
                    port: port,
                    render: {
                        var buffer: [UInt8] = []
                        registry.emit(into: &buffer)
                        return String(decoding: buffer, as: UTF8.self)
                    },
                    logger: logger
                )
            }
            let worker = Worker(configuration: configuration, logger: logger)
            var services: [any Service] = [worker]
            if let endpoint { services.append(endpoint) }
            let group = ServiceGroup(
                configuration: .init(
                    services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        }
    }
}
