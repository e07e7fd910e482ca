import Foundation
import MailroomCLISupport
import MailroomCore
import MailroomPostgres
import MailroomQuery
import MailroomStore

/// What the page benchmarks (`bench query`, `bench api`) share: latency samples, the library's side, and a
/// bench database of their own.
enum PageBench {
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

    /// Pages of `page` messages read for `seconds` by `tasks` tasks through `MailroomClient.listInbox`, each
    /// preferring `executors[task]` (or Swift's default executor when `executors` is nil); owners picked at random.
    static func librarySlice(
        _ client: MailroomClient,
        executors: [any TaskExecutor]?,
        keys: [PublicKey],
        tasks: Int,
        page: Int,
        seconds: Double,
        seed: UInt64
    ) async throws -> Samples {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .nanoseconds(Int64(seconds * 1e9))
        let perTask = try await withThrowingTaskGroup(of: [Double].self) { group in
            for task in 0..<tasks {
                group.addTask(executorPreference: executors?[task]) {
                    var random = SplitMix(seed: seed &* 31 &+ UInt64(task) &+ 1)
                    var latencies: [Double] = []
                    latencies.reserveCapacity(100_000)
                    while clock.now < deadline {
                        let owner = keys[Int(random.next() % UInt64(keys.count))]
                        let t0 = clock.now
                        let messages = try await client.listInbox(owner: owner, limit: page)
                        latencies.append(milliseconds(clock.now - t0))
                        if messages.isEmpty { throw CLIError("bench: an empty page; is the database filled?") }
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
}

/// A bench's own database beside `$MAILROOM_DATABASE_URL`'s, created once, migrated, and filled once with
/// inbox rows built in SQL (not real sealed envelopes: listing never opens them); later runs reuse it.
struct BenchDatabase {
    /// Its libpq URL.
    let url: String
    let name: String
    private let note: @Sendable (String) -> Void

    /// Creates (once) and migrates the database `name` on the server of `adminURL`.
    static func prepare(
        adminURL: String,
        name: String,
        migrations: String,
        note: @escaping @Sendable (String) -> Void
    ) async throws -> BenchDatabase {
        guard var components = URLComponents(string: adminURL), components.scheme?.hasPrefix("postgres") == true else {
            throw CLIError("the benchmark needs a postgres:// URL in MAILROOM_DATABASE_URL")
        }
        components.path = "/" + name
        guard let url = components.string else { throw CLIError("cannot build the bench database URL") }
        let admin = try await PostgresConnection.connect(url: adminURL)
        do {
            let exists =
                try await admin.query("SELECT count(*) FROM pg_database WHERE datname = \(name)")
                .single().decode(Int64.self, column: 0) > 0
            if !exists {
                note("creating database \(name)")
                try await admin.query("CREATE DATABASE \(identifier: name)")
            }
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        let connection = try await PostgresConnection.connect(url: url)
        do {
            let report = try await Migrator(logger: CLILogging.logger("migrate")).migrate(
                try Migration.load(from: URL(fileURLWithPath: migrations)),
                on: connection
            )
            if !report.applied.isEmpty { note("migrated: \(report.applied.joined(separator: ", "))") }
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        return BenchDatabase(url: url, name: name, note: note)
    }

    /// Runs `body` on a connection of its own, closed afterwards.
    @discardableResult
    func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await PostgresConnection.connect(url: url)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    func count(_ sql: PostgresQuery) async throws -> Int {
        try await withConnection { Int(try await $0.query(sql).single().decode(Int64.self, column: 0)) }
    }

    /// The mailbox owners, oldest first.
    func owners() async throws -> [[UInt8]] {
        try await withConnection { connection in
            try await connection.query("SELECT owner FROM mailboxes ORDER BY created_at, owner").map {
                try $0.decode([UInt8].self, column: 0)
            }
        }
    }

    /// Sets up a mailbox for each of `owners` that has none.
    func addMailboxes(_ owners: [[UInt8]]) async throws {
        guard !owners.isEmpty else { return }
        try await withConnection { try await Self.addMailboxes(owners, on: $0) }
    }

    /// Sets up a mailbox for each of `owners` that has none, 50,000 to a statement: what every bench that makes
    /// mailboxes uses.
    static func addMailboxes(_ owners: [[UInt8]], on connection: PostgresConnection) async throws {
        for start in stride(from: 0, to: owners.count, by: 50_000) {
            let chunk = Array(owners[start..<min(start + 50_000, owners.count)])
            try await connection.query(
                "INSERT INTO mailboxes (owner) SELECT * FROM unnest(\(PostgresArray(chunk))) ON CONFLICT DO NOTHING"
            )
        }
    }

    /// Fills the message table up to `messages` rows over `owners` (round robin), senders among the first
    /// `senders` owners, every other message read. Does nothing when it holds that many already.
    func fill(owners: [[UInt8]], messages: Int, senders: Int) async throws {
        try await withConnection { connection in
            var existing = Int(
                try await connection.query("SELECT count(*) FROM messages").single().decode(Int64.self, column: 0)
            )
            if existing >= messages {
                note("reusing \(existing) messages in \(name)")
                return
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
                    """
                )
                existing = Int(to) + 1
                note("filled \(existing) of \(messages) messages (\(Int(milliseconds(clock.now - start) / 1000)) s)")
            }
            // The rows are written directly, not through the worker: bring the counters the worker keeps along.
            try await connection.query(
                """
                UPDATE mailbox_usage u SET messages = c.messages, unread = c.unread
                FROM (SELECT recipient, count(*) AS messages, count(*) FILTER (WHERE read_at IS NULL) AS unread
                      FROM messages GROUP BY recipient) c
                WHERE u.owner = c.recipient
                """
            )
            try await connection.executeScript("VACUUM ANALYZE messages")
        }
    }
}

func milliseconds(_ duration: Duration) -> Double {
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
