import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomCore
@_spi(Benchmarks) import MailroomPostgres
import MailroomQuery
import MailroomStore
import Synchronization

/// `mailroom-bench query`: inbox pages through the query library beside the same SQL through bare libpq.
struct QueryBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Inbox page latency and throughput through the query library, beside bare libpq.",
        discussion: """
            Uses a database of its own (--bench-database, created next to $MAILROOM_DATABASE_URL's and migrated) \
            and fills it once with --messages inbox rows over --mailboxes mailboxes; later runs reuse it. The \
            bulk rows are built in SQL (one INSERT … SELECT over generate_series per chunk) with a fixed \
            pre-built body, hash and signature: they are not real sealed envelopes (listing never opens them). \
            Then --tasks client tasks read pages of --page messages of random mailboxes through \
            MailroomClient.listInbox, in slices alternating with the same SQL run by --tasks threads through bare \
            libpq (PQexecPrepared, binary). The library is measured twice: with tasks that prefer the client's \
            executors (Task(executorPreference: client.nextExecutor()), the recommended use, reported as page_* \
            and pages_per_s) and with tasks on Swift's default executor (default_executor_*). Build with \
            `swift build -c release` first.
            """
    )

    @Option(help: "Mailboxes in the bench database.") var mailboxes: Int = 10_000
    @Option(help: "Inbox messages in the bench database (filled once).") var messages: Int = 1_000_000
    @Option(help: "Distinct senders among the mailboxes.") var senders: Int = 1_000
    @Option(help: "Messages per page.") var page: Int = 50
    @Option(help: "Concurrent clients (library tasks, and bare libpq threads).") var tasks: Int = 2
    @Option(help: "Seconds of measurement per side.") var seconds: Double = 10
    @Option(help: "Alternating slices per side.") var rounds: Int = 10
    @Option(name: .customLong("bench-database"), help: "Name of the bench database.") var benchDatabase =
        "mailroom_bench_query"
    @Option(help: ArgumentHelp("Migrations folder.", valueName: "path")) var migrations = "Migrations"
    @Option(
        help: ArgumentHelp("Measure only one side (for profiling): all, library, default or bare.", visibility: .hidden)
    )
    var only: Side = .all
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var database: DatabaseOptions

    enum Side: String, ExpressibleByArgument { case all, library, `default`, bare }

    static let pageSQL =
        "SELECT id, sender, created_at, body, sentbox_body_hash, signature, read_at FROM inbox_messages WHERE owner = $1 ORDER BY id DESC LIMIT $2"

    func run() async throws {
        try await reportingErrors {
            BenchHarness.print(try await measure(), json: json)
        }
    }

    private func note(_ text: String) {
        if !json { CLIOutput.error(text) }
    }

    private func measure() async throws -> [String: Any] {
        let json = json
        let bench = try await BenchDatabase.prepare(
            adminURL: try database.resolvedURL(),
            name: benchDatabase,
            migrations: migrations,
            note: { if !json { CLIOutput.error($0) } }
        )
        let url = bench.url
        var owners = try await bench.owners()
        if owners.count < mailboxes {
            note("creating \(mailboxes - owners.count) mailboxes")
            let fresh = (owners.count..<mailboxes).map { _ in Identity.generate().publicKey.bytes }
            try await bench.addMailboxes(fresh)
            owners += fresh
        }
        owners = Array(owners.prefix(mailboxes))
        try await bench.fill(owners: owners, messages: messages, senders: senders)

        // Warm both sides: plans, caches, key validation.
        let client = MailroomClient(.init(databaseURL: url, poolSize: tasks), logger: CLILogging.logger("bench"))
        defer { Task { await client.shutdown() } }
        let keys = try owners.map { try PublicKey(bytes: $0) }
        for index in 0..<min(keys.count, 2_000) { _ = try await client.listInbox(owner: keys[index], limit: page) }

        // One executor per task, kept across slices: each task's connection stays on its thread.
        let executors = (0..<tasks).map { _ in client.nextExecutor() }
        var library = PageBench.Samples()
        var onDefault = PageBench.Samples()
        var bare = PageBench.Samples()
        let slice = seconds / Double(rounds)
        note("measuring \(rounds) alternating slices of \(String(format: "%.1f", slice)) s per side, \(tasks) clients…")
        for round in 0..<rounds {
            // Rotate the order so that no side always follows the same one.
            for step in 0..<3 {
                switch (round + step) % 3 {
                case 0 where only == .all || only == .library:
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
                case 1 where only == .all || only == .default:
                    onDefault.add(
                        try await PageBench.librarySlice(
                            client,
                            executors: nil,
                            keys: keys,
                            tasks: tasks,
                            page: page,
                            seconds: slice,
                            seed: UInt64(round)
                        )
                    )
                case 2 where only == .all || only == .bare:
                    let owners = owners
                    let samples = try await BenchHarness.onThread {
                        try Self.bareSlice(
                            url: url,
                            owners: owners,
                            seconds: slice,
                            seed: UInt64(round),
                            threads: tasks,
                            page: page
                        )
                    }
                    bare.add(samples)
                default:
                    break
                }
            }
        }
        let round3 = { (value: Double) in (value * 1000).rounded() / 1000 }
        return [
            "messages": try await bench.count("SELECT count(*) FROM inbox_messages"),
            "mailboxes": owners.count,
            "page_size": page, "tasks": tasks, "seconds_per_side": seconds,
            "page_p50_ms": round3(library.percentile(0.50)), "page_p99_ms": round3(library.percentile(0.99)),
            "pages_per_s": (library.rate).rounded(),
            "bare_p50_ms": round3(bare.percentile(0.50)), "bare_p99_ms": round3(bare.percentile(0.99)),
            "bare_pages_per_s": (bare.rate).rounded(),
            "ratio": round3(library.rate / max(bare.rate, 1)),
            "default_executor_page_p50_ms": round3(onDefault.percentile(0.50)),
            "default_executor_page_p99_ms": round3(onDefault.percentile(0.99)),
            "default_executor_pages_per_s": (onDefault.rate).rounded(),
            "default_executor_ratio": round3(onDefault.rate / max(bare.rate, 1)),
        ]
    }

    /// Bare libpq pages from `threads` threads of their own (blocking; run it with ``BenchHarness/onThread(_:)``).
    private static func bareSlice(
        url: String,
        owners: [[UInt8]],
        seconds: Double,
        seed: UInt64,
        threads: Int,
        page: Int
    ) throws -> PageBench.Samples {
        let results = Mutex<[[Double]]>([])
        let failure = Mutex<String?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        let limit = Int64(page)
        let wall = Mutex<Double>(0)
        for thread in 0..<threads {
            done.enter()
            Thread {
                defer { done.leave() }
                guard let raw = try? RawLibPQCeiling(url: url, sql: Self.pageSQL) else {
                    failure.withLock { $0 = "bench: bare libpq could not connect" }
                    ready.signal()
                    return
                }
                var random = SplitMix(seed: seed &* 31 &+ UInt64(thread) &+ 1)
                for index in 0..<50 { _ = raw.run(owner: owners[index % owners.count], limit: limit) }
                ready.signal()
                go.wait()
                let clock = ContinuousClock()
                let start = clock.now
                let deadline = start + .nanoseconds(Int64(seconds * 1e9))
                var latencies: [Double] = []
                latencies.reserveCapacity(100_000)
                while clock.now < deadline {
                    let owner = owners[Int(random.next() % UInt64(owners.count))]
                    let t0 = clock.now
                    let (rows, _) = raw.run(owner: owner, limit: limit)
                    latencies.append(milliseconds(clock.now - t0))
                    if rows == 0 { failure.withLock { $0 = "bench: bare libpq read an empty page" } }
                }
                let elapsed = milliseconds(clock.now - start) / 1000
                wall.withLock { $0 = max($0, elapsed) }
                results.withLock { $0.append(latencies) }
            }.start()
        }
        for _ in 0..<threads { ready.wait() }
        for _ in 0..<threads { go.signal() }
        done.wait()
        if let message = failure.withLock({ $0 }) { throw CLIError(message) }
        let flat = results.withLock { $0.flatMap { $0 } }
        return PageBench.Samples(latencies: flat, pages: flat.count, wall: wall.withLock { $0 })
    }
}
