import ArgumentParser
import Foundation
import Logging
import MailroomAPI
import MailroomCLISupport
import MailroomCore
import MailroomPostgres
import MailroomProducer
import MailroomQuery
import ServiceLifecycle
import Synchronization

/// `mailroom-bench api`: inbox pages over HTTP with signed requests, beside the query library in process.
struct APIBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Inbox pages through the HTTP API (signed requests), beside the query library in process.",
        discussion: """
            Uses a database of its own (--bench-database, created next to $MAILROOM_DATABASE_URL's, migrated and \
            filled once with --messages rows over --mailboxes mailboxes whose keys the bench derives, so it can \
            sign for them; later runs reuse it). Starts the API server (the same APIServer `mailroom serve` runs, \
            rate limits raised out of the way) on a free loopback port, with a producer on $MAILROOM_BROKERS. \
            Then, in alternating slices: --clients threads, each on one keep-alive connection, send \
            `GET /v1/inbox?limit=--page` signed by a random mailbox's key and read the JSON page (api_*; the \
            latency is the round trip, signing excluded); and --tasks tasks read the same pages through \
            MailroomClient.listInbox in this process (library_*); and the same clients send the unsigned \
            `GET /healthz` (http_floor_*: the HTTP stack's own cost, the ceiling of any route on this machine). \
            Build with `swift build -c release` first.
            """
    )

    @Option(help: "Mailboxes in the bench database (their keys are derived from their index).") var mailboxes: Int =
        1_000
    @Option(help: "Inbox messages in the bench database (filled once).") var messages: Int = 200_000
    @Option(help: "Messages per page.") var page: Int = 50
    @Option(help: "Concurrent HTTP clients (threads, one connection each).") var clients: Int = 4
    @Option(help: "Concurrent library tasks.") var tasks: Int = 2
    @Option(name: .customLong("pool-size"), help: "The server's PostgreSQL connections.") var poolSize: Int = 4
    @Option(help: "Seconds of measurement per side.") var seconds: Double = 10
    @Option(help: "Alternating slices per side (API, floor, library).") var rounds: Int = 10
    @Option(name: .customLong("bench-database"), help: "Name of the bench database.") var benchDatabase =
        "mailroom_bench_api"
    @Option(help: ArgumentHelp("Migrations folder.", valueName: "path")) var migrations = "Migrations"
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions

    func run() async throws {
        try await reportingErrors {
            guard mailboxes > 0, messages >= mailboxes, page > 0, clients > 0, tasks > 0, seconds > 0, rounds > 0 else {
                throw CLIError(
                    "--mailboxes, --page, --clients, --tasks, --seconds and --rounds must be positive, --messages ≥ --mailboxes"
                )
            }
            BenchHarness.print(try await measure(), json: json)
        }
    }

    /// The bench's mailbox keys: the same for every run, so a filled database is reused.
    static func identity(_ index: Int) -> Identity {
        var seed = [UInt8](repeating: 0x6D, count: 32)
        withUnsafeBytes(of: UInt64(index).littleEndian) { seed.replaceSubrange(0..<8, with: $0) }
        return try! Identity(seed: seed)  // 32 bytes: cannot fail
    }

    private func measure() async throws -> [String: Any] {
        let json = json
        let note: @Sendable (String) -> Void = { if !json { CLIOutput.error($0) } }
        let bench = try await BenchDatabase.prepare(
            adminURL: try database.resolvedURL(),
            name: benchDatabase,
            migrations: migrations,
            note: note
        )
        let identities = (0..<mailboxes).map(Self.identity)
        let owners = identities.map { $0.publicKey.bytes }
        try await bench.addMailboxes(owners)
        try await bench.fill(owners: owners, messages: messages, senders: mailboxes)

        let logger = Logger(label: "mailroom.bench.api")  // errors only: requests are not logged
        let client = MailroomClient(.init(databaseURL: bench.url, poolSize: max(poolSize, tasks)), logger: logger)
        let producer: MailroomProducer
        do {
            producer = try MailroomProducer(
                .init(kafka: try kafka.configuration(clientID: "mailroom-bench-api"), topics: kafka.topics),
                logger: logger
            )
        } catch {
            await client.shutdown()
            throw error
        }
        var configuration = APIConfiguration(host: "127.0.0.1", port: 0)
        configuration.maxPageSize = max(configuration.maxPageSize, page)
        // The bench measures the serving path, not the flood limits (they still run, on every request).
        configuration.keyRequestsPerSecond = 1e9
        configuration.keyBurst = 1 << 30
        configuration.addressRequestsPerSecond = 1e9
        configuration.addressBurst = 1 << 30
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        let server = APIServer(
            configuration: configuration,
            client: client,
            producer: producer,
            logger: logger,
            onListening: { port.yield($0) }
        )
        let group = ServiceGroup(services: [server], logger: logger)

        let report: Result<[String: Any], any Error> = await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try? await group.run() }
            defer { port.finish() }
            do {
                var listening: Int?
                for await bound in ports {
                    listening = bound
                    break
                }
                guard let listening else { throw CLIError("bench: the API server did not start") }
                let result = Result<[String: Any], any Error>.success(
                    try await compare(port: listening, client: client, identities: identities, bench: bench, note: note)
                )
                await group.triggerGracefulShutdown()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                return .failure(error)
            }
        }
        await producer.close()
        await client.shutdown()
        return try report.get()
    }

    /// Alternating slices of both sides against the running server.
    private func compare(
        port: Int,
        client: MailroomClient,
        identities: [Identity],
        bench: BenchDatabase,
        note: (String) -> Void
    ) async throws -> [String: Any] {
        let keys = identities.map(\.publicKey)
        let executors = (0..<tasks).map { _ in client.nextExecutor() }
        for key in keys.prefix(500) { _ = try await client.listInbox(owner: key, limit: page) }
        _ = try await apiSlice(port: port, identities: identities, seconds: 0.5, seed: 99)  // warm the server

        var api = PageBench.Samples()
        var library = PageBench.Samples()
        var floor = PageBench.Samples()
        var bytes = 0
        let slice = seconds / Double(rounds)
        note("measuring \(rounds) alternating slices of \(String(format: "%.1f", slice)) s per side…")
        for round in 0..<rounds {
            for step in 0..<3 {
                switch (round + step) % 3 {
                case 0:
                    let (samples, bodyBytes) = try await apiSlice(
                        port: port,
                        identities: identities,
                        seconds: slice,
                        seed: UInt64(round)
                    )
                    api.add(samples)
                    bytes += bodyBytes
                case 1:
                    floor.add(
                        try await apiSlice(
                            port: port,
                            identities: identities,
                            seconds: slice,
                            seed: UInt64(round),
                            floor: true
                        ).0
                    )
                default:
                    library.add(
                        try await PageBench.librarySlice(
                            client,
                            executors: executors,
                            keys: keys,
                            tasks: tasks,
                            page: page,
                            seconds: slice,
                            seed: UInt64(round)
                        )
                    )
                }
            }
        }
        let round3 = { (value: Double) in (value * 1000).rounded() / 1000 }
        return [
            "messages": try await bench.count("SELECT count(*) FROM inbox_messages"),
            "mailboxes": identities.count, "page_size": page, "clients": clients, "tasks": tasks,
            "seconds_per_side": seconds,
            "api_pages_per_s": api.rate.rounded(), "api_requests_per_s": api.rate.rounded(),
            "api_p50_ms": round3(api.percentile(0.50)), "api_p99_ms": round3(api.percentile(0.99)),
            "api_bytes_per_page": api.pages > 0 ? bytes / api.pages : 0,
            "library_pages_per_s": library.rate.rounded(),
            "library_p50_ms": round3(library.percentile(0.50)), "library_p99_ms": round3(library.percentile(0.99)),
            "ratio": round3(api.rate / max(library.rate, 1)),
            "http_floor_requests_per_s": floor.rate.rounded(), "http_floor_p50_ms": round3(floor.percentile(0.50)),
            "http_floor_p99_ms": round3(floor.percentile(0.99)),
            "target_ratio": 0.5, "target_api_p99_ms": 3.0,
        ]
    }

    /// `clients` threads, each with its own connection, read signed inbox pages for `seconds` — or, with
    /// `floor`, the unsigned `GET /healthz` (the HTTP stack's own cost on this machine: the ceiling for any
    /// route). Awaits the threads without blocking a thread of Swift's pool (the server in this process runs there).
    private func apiSlice(
        port: Int,
        identities: [Identity],
        seconds: Double,
        seed: UInt64,
        floor: Bool = false
    ) async throws -> (PageBench.Samples, Int) {
        struct Outcome: Sendable {
            var latencies: [Double] = []
            var bytes = 0
            var wall: Double = 0
            var failure: String?
        }
        let threads = clients
        let target = floor ? "/healthz" : "/v1/inbox?limit=\(page)"
        let ready = Mutex(0)
        let go = DispatchSemaphore(value: 0)
        let outcomes = Mutex<[Outcome]>([])
        let all: [Outcome] = await withCheckedContinuation { continuation in
            for thread in 0..<threads {
                Thread {
                    var outcome = Outcome()
                    defer {
                        let finished = outcomes.withLock {
                            $0.append(outcome)
                            return $0.count == threads ? $0 : nil
                        }
                        if let finished { continuation.resume(returning: finished) }
                    }
                    // Every thread reaches the barrier, connected or not, so that none waits forever.
                    let connection = try? BlockingHTTPConnection(port: port)
                    if ready.withLock({
                        $0 += 1
                        return $0
                    }) == threads {
                        for _ in 0..<threads { go.signal() }
                    }
                    go.wait()
                    guard let connection else {
                        outcome.failure = "could not connect to the API server on port \(port)"
                        return
                    }
                    var random = SplitMix(seed: seed &* 31 &+ UInt64(thread) &+ 1)
                    outcome.latencies.reserveCapacity(50_000)
                    let clock = ContinuousClock()
                    let start = clock.now
                    let deadline = start + .nanoseconds(Int64(seconds * 1e9))
                    while clock.now < deadline {
                        let identity = identities[Int(random.next() % UInt64(identities.count))]
                        let headers =
                            floor
                            ? []
                            : RequestSignature.sign(
                                method: "GET",
                                target: target,
                                body: [],
                                timestampMilliseconds: Int64(Date().timeIntervalSince1970 * 1000),
                                identity: identity
                            ).headers
                        let t0 = clock.now
                        do {
                            let (status, body) = try connection.get(target, headers: headers)
                            outcome.latencies.append(milliseconds(clock.now - t0))
                            // An empty page is `{"records":[],"next_seek":null}`: a filled page is far longer.
                            guard status == 200, floor || body.count > 64 else {
                                outcome.failure =
                                    status == 200
                                    ? "an empty page; is the database filled?"
                                    : "GET \(target) answered \(status): \(String(decoding: body.prefix(200), as: UTF8.self))"
                                return
                            }
                            outcome.bytes += body.count
                        } catch {
                            outcome.failure = "\(error)"
                            return
                        }
                    }
                    outcome.wall = milliseconds(clock.now - start) / 1000
                }.start()
            }
        }
        if let failure = all.compactMap(\.failure).first { throw CLIError("bench api: \(failure)") }
        let latencies = all.flatMap(\.latencies)
        let wall = all.map(\.wall).max() ?? 0
        return (
            PageBench.Samples(latencies: latencies, pages: latencies.count, wall: wall), all.reduce(0) { $0 + $1.bytes }
        )
    }
}
