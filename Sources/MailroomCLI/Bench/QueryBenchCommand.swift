import ArgumentParser
import Foundation
import MailroomCore
@_spi(Benchmarks) import MailroomPostgres
import MailroomQuery
import MailroomStore
import Synchronization

/// `mailroom bench query`: inbox pages through the query library beside the same SQL through bare libpq.
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
            """)

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
    @Option(help: ArgumentHelp("Measure only one side (for profiling): all, library, default or bare.", visibility: .hidden))
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
        let url = try await prepareDatabase()
        let owners = try await fill(url)

        // Warm both sides: plans, caches, key validation.
        let client = MailroomClient(.init(databaseURL: url, poolSize: tasks), logger: CLILogging.logger("bench"))
        defer { Task { await client.shutdown() } }
        let keys = try owners.map { try PublicKey(bytes: $0) }
        for index in 0..<min(keys.count, 2_000) { _ = try await client.listInbox(owner: keys[index], limit: page) }

        // One executor per task, kept across slices: each task's connection stays on its thread.
        let executors = (0..<tasks).map { _ in client.nextExecutor() }
        var library = Samples()
        var onDefault = Samples()
        var bare = Samples()
        let slice = seconds / Double(rounds)
        note("measuring \(rounds) alternating slices of \(String(format: "%.1f", slice)) s per side, \(tasks) clients…")
        for round in 0..<rounds {
            // Rotate the order so that no side always follows the same one.
            for step in 0..<3 {
                switch (round + step) % 3 {
                case 0 where only == .all || only == .library:
                    library.add(
                        try await librarySlice(client, executors: executors, keys: keys, seconds: slice, seed: UInt64(round)))
                case 1 where only == .all || only == .default:
                    onDefault.add(
                        try await librarySlice(client, executors: nil, keys: keys, seconds: slice, seed: UInt64(round)))
                case 2 where only == .all || only == .bare:
                    bare.add(try bareSlice(url: url, owners: owners, seconds: slice, seed: UInt64(round)))
                default:
                    break
                }
            }
        }
        let round3 = { (value: Double) in (value * 1000).rounded() / 1000 }
        return [
            "messages": try await count(url, "SELECT count(*) FROM inbox_messages"),
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

    /// Latencies in milliseconds and the wall time they took.
    struct Samples {
        var latencies: [Double] = []
        var pages = 0
        var wall: Double = 0

        mutating func add(_ other: Samples) {
            latencies += other.latencies
            pages += other.pages
            wall += other.wall
        }

        var rate: Double { wall > 0 ? Double(pages) / wall : 0 }

        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let sorted = latencies.sorted()
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
        }
    }

    /// Pages read by `tasks` tasks through the library, each preferring `executors[task]` (or Swift's default
    /// executor when `executors` is nil).
    private func librarySlice(
        _ client: MailroomClient, executors: [any TaskExecutor]?, keys: [PublicKey], seconds: Double, seed: UInt64
    ) async throws -> Samples {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .nanoseconds(Int64(seconds * 1e9))
        let limit = page
        let perTask = try await withThrowingTaskGroup(of: [Double].self) { group in
            for task in 0..<tasks {
                group.addTask(executorPreference: executors?[task]) {
                    var random = SplitMix(seed: seed &* 31 &+ UInt64(task) &+ 1)
                    var latencies: [Double] = []
                    latencies.reserveCapacity(100_000)
                    while clock.now < deadline {
                        let owner = keys[Int(random.next() % UInt64(keys.count))]
                        let t0 = clock.now
                        let page = try await client.listInbox(owner: owner, limit: limit)
                        latencies.append(milliseconds(clock.now - t0))
                        if page.isEmpty { throw CLIError("bench: an empty page; is the database filled?") }
                    }
                    return latencies
                }
            }
            var all: [[Double]] = []
            for try await latencies in group { all.append(latencies) }
            return all
        }
        let flat = perTask.flatMap { $0 }
        return Samples(latencies: flat, pages: flat.count, wall: milliseconds(clock.now - start) / 1000)
    }

    private func bareSlice(url: String, owners: [[UInt8]], seconds: Double, seed: UInt64) throws -> Samples {
        let results = Mutex<[[Double]]>([])
        let failure = Mutex<String?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        let limit = Int64(page)
        let threads = tasks
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
        return Samples(latencies: flat, pages: flat.count, wall: wall.withLock { $0 })
    }

    // MARK: The bench database

    /// Creates (once) and migrates the bench database; returns its URL.
    private func prepareDatabase() async throws -> String {
        let adminURL = try database.resolvedURL()
        guard var components = URLComponents(string: adminURL), components.scheme?.hasPrefix("postgres") == true else {
            throw CLIError("bench query needs a postgres:// URL in MAILROOM_DATABASE_URL")
        }
        components.path = "/" + benchDatabase
        guard let url = components.string else { throw CLIError("cannot build the bench database URL") }
        let admin = try await PostgresConnection.connect(url: adminURL)
        let exists =
            try await admin.query("SELECT count(*) FROM pg_database WHERE datname = \(benchDatabase)")
            .single().decode(Int64.self, column: 0) > 0
        if !exists {
            note("creating database \(benchDatabase)")
            try await admin.query("CREATE DATABASE \(identifier: benchDatabase)")
        }
        await admin.close()
        let connection = try await PostgresConnection.connect(url: url)
        let report = try await Migrator(logger: CLILogging.logger("migrate")).migrate(
            try Migration.load(from: URL(fileURLWithPath: migrations)), on: connection)
        if !report.applied.isEmpty { note("migrated: \(report.applied.joined(separator: ", "))") }
        await connection.close()
        return url
    }

    private func count(_ url: String, _ sql: PostgresQuery) async throws -> Int {
        let connection = try await PostgresConnection.connect(url: url)
        defer { Task { await connection.close() } }
        return Int(try await connection.query(sql).single().decode(Int64.self, column: 0))
    }

    /// Fills the bench database once; returns the mailbox owners that have messages.
    private func fill(_ url: String) async throws -> [[UInt8]] {
        let connection = try await PostgresConnection.connect(url: url)
        defer { Task { await connection.close() } }
        var owners = try await connection.query("SELECT owner FROM mailboxes ORDER BY created_at, owner").map {
            try $0.decode([UInt8].self, column: 0)
        }
        if owners.count < mailboxes {
            note("creating \(mailboxes - owners.count) mailboxes")
            let fresh = (owners.count..<mailboxes).map { _ in Identity.generate().publicKey.bytes }
            try await connection.query(
                "INSERT INTO mailboxes (owner) SELECT * FROM unnest(\(PostgresArray(fresh))) ON CONFLICT DO NOTHING")
            owners += fresh
        }
        owners = Array(owners.prefix(mailboxes))
        var existing = Int(
            try await connection.query("SELECT count(*) FROM messages").single().decode(Int64.self, column: 0))
        if existing >= messages {
            note("reusing \(existing) messages in \(benchDatabase)")
            return owners
        }
        // One pre-built row image: a 256-byte body sealed size (328 bytes), a hash and a signature.
        let body = [UInt8]((0..<328).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        let hash = [UInt8](repeating: 0x11, count: 32)
        let signature = [UInt8](repeating: 0x22, count: 64)
        let baseMilliseconds = Int64(Date().timeIntervalSince1970 * 1000) - 30 * 86_400_000
        let senderCount = Int64(max(1, min(senders, owners.count)))
        let chunk = 100_000
        let clock = ContinuousClock()
        let start = clock.now
        while existing < messages {
            let from = Int64(existing)
            let to = Int64(min(messages, existing + chunk)) - 1
            try await connection.query(
                """
                INSERT INTO messages (recipient, id, sender, created_at, inbox_body, sentbox_body, inbox_body_hash,
                                      sentbox_body_hash, signature, read_at)
                SELECT k.o[1 + (g % \(Int64(owners.count)))],
                       (lpad(to_hex(\(baseMilliseconds) + g * 2), 12, '0') || substr(md5(g::text), 1, 20))::uuid,
                       k.o[1 + ((g * 7919) % \(senderCount))],
                       to_timestamp((\(baseMilliseconds) + g * 2) / 1000.0),
                       \(body), \(body), \(hash), \(hash), \(signature),
                       CASE WHEN g % 2 = 0 THEN now() END
                FROM generate_series(\(from), \(to)) AS g, (SELECT \(PostgresArray(owners)) AS o) AS k
                ON CONFLICT DO NOTHING
                """)
            existing = Int(to) + 1
            note("filled \(existing) of \(messages) messages (\(Int(milliseconds(clock.now - start) / 1000)) s)")
        }
        // The bench writes rows directly, not through the worker: bring the counters the worker would keep along.
        try await connection.query(
            """
            UPDATE mailbox_usage u SET messages = c.messages, unread = c.unread
            FROM (SELECT recipient, count(*) AS messages, count(*) FILTER (WHERE read_at IS NULL) AS unread
                  FROM messages GROUP BY recipient) c
            WHERE u.owner = c.recipient
            """)
        try await connection.executeScript("VACUUM ANALYZE messages")
        return owners
    }
}

private func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// A small fast PRNG, so picking a mailbox costs nothing next to the page.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
