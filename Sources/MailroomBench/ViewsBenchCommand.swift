import ArgumentParser
import Foundation
import MailroomCLISupport
import MailroomPostgres
import MailroomStore

/// `mailroom-bench views`: fills a scratch database with millions of messages and times each dashboard view.
struct ViewsBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "views",
        abstract: "Time the dashboard views (mailroom_ops) over a scratch database filled with N messages.",
        discussion: """
            Creates the database --bench-database next to the one $MAILROOM_DATABASE_URL names (it needs CREATEDB; \
            an existing one of that name is dropped first), applies the migrations, and fills it with INSERT … \
            SELECT FROM generate_series in chunks: mailboxes, messages (an inbox and a sentbox row each, synthetic \
            bytes, stored over the last --days up to now, 90% read), 1% as many rejections, worker progress. The \
            rollups are built by the same triggers that keep them in production. Then it runs each view's query \
            --runs times and prints the median and worst time, with the same figures for the equivalent query \
            over the message tables for comparison. The database is dropped at the end unless --keep.
            """
    )

    @Option(help: "Messages to store (each an inbox and a sentbox row).") var messages: Int = 10_000_000
    @Option(help: "Mailboxes.") var mailboxes: Int = 100_000
    @Option(help: "Days over which the messages were stored (ending now).") var days: Double = 7
    @Option(name: .customLong("chunk"), help: "Messages per INSERT statement.") var chunk: Int = 500_000
    @Option(help: "Timed runs per query.") var runs: Int = 20
    @Option(name: .customLong("bench-database"), help: "Scratch database name.") var benchDatabase =
        "mailroom_bench_views"
    @Option(
        help: ArgumentHelp("Migrations folder (default: $MAILROOM_MIGRATIONS, else ./Migrations).", valueName: "dir")
    )
    var migrations: String?
    @Flag(help: "Keep the scratch database (reuse it with --reuse).") var keep = false
    @Flag(help: "Time the views of an existing, filled scratch database (no fill).") var reuse = false
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try await reportingErrors {
            let adminURL = try database.resolvedURL()
            guard var components = URLComponents(string: adminURL) else {
                throw CLIError("cannot parse the database URL")
            }
            components.path = "/" + benchDatabase
            guard let benchURL = components.string else { throw CLIError("cannot build the scratch database URL") }

            var report: [String: Any] = ["messages": messages, "mailboxes": mailboxes, "days": days, "runs": runs]
            if !reuse {
                let admin = try await PostgresConnection.connect(url: adminURL)
                try await admin.query("DROP DATABASE IF EXISTS \(identifier: benchDatabase) WITH (FORCE)")
                try await admin.query("CREATE DATABASE \(identifier: benchDatabase)")
                await admin.close()
            }
            let connection = try await PostgresConnection.connect(url: benchURL)
            do {
                if !reuse {
                    let folder =
                        migrations ?? ProcessInfo.processInfo.environment["MAILROOM_MIGRATIONS"] ?? "Migrations"
                    _ = try await Migrator().migrate(
                        try Migration.load(from: URL(fileURLWithPath: folder)),
                        on: connection
                    )
                    let seconds = try await fill(connection)
                    report["fill_seconds"] = (seconds * 10).rounded() / 10
                }
                report["sizes"] = try await sizes(connection)
                var timings: [String: Any] = [:]
                for (name, sql) in Self.queries {
                    note("timing \(name)…")
                    timings[name] = try await time(sql, on: connection)
                }
                report["query_ms"] = timings
                await connection.close()
            } catch {
                await connection.close()
                throw error
            }
            if !keep {
                let admin = try await PostgresConnection.connect(url: adminURL)
                try await admin.query("DROP DATABASE IF EXISTS \(identifier: benchDatabase) WITH (FORCE)")
                await admin.close()
            }
            if json {
                CLIOutput.json(report)
            } else {
                printTable(report)
            }
        }
    }

    private func note(_ text: String) {
        if !json { CLIOutput.error(text) }
    }

    /// The dashboards' queries, and (`naive_…`) what the same figures cost read from the message tables.
    static let queries: [(String, PostgresQuery)] = [
        (
            "stored_per_minute_1h",
            "SELECT * FROM mailroom_ops.messages_stored_per_minute WHERE minute >= now() - interval '1 hour' ORDER BY minute"
        ),
        (
            "stored_per_minute_24h",
            "SELECT * FROM mailroom_ops.messages_stored_per_minute WHERE minute >= now() - interval '24 hours' ORDER BY minute"
        ),
        (
            "latency_per_minute_1h",
            "SELECT * FROM mailroom_ops.latency_per_minute WHERE minute >= now() - interval '1 hour' ORDER BY minute"
        ),
        (
            "latency_per_minute_24h",
            "SELECT * FROM mailroom_ops.latency_per_minute WHERE minute >= now() - interval '24 hours' ORDER BY minute"
        ),
        (
            "rejections_per_minute_24h",
            "SELECT * FROM mailroom_ops.rejections_per_minute WHERE minute >= now() - interval '24 hours' ORDER BY minute, reason"
        ),
        ("mailbox_counts", "SELECT * FROM mailroom_ops.mailbox_counts"),
        ("top_unread_mailboxes", "SELECT * FROM top_unread_mailboxes"),  // the query role's, not the dashboards'
        ("unread_distribution", "SELECT * FROM mailroom_ops.unread_distribution"),
        ("worker_progress", "SELECT * FROM mailroom_ops.worker_progress ORDER BY topic, kafka_partition"),
        (
            "naive_stored_per_minute_1h",
            "SELECT date_trunc('minute', stored_at), count(*) FROM inbox_messages WHERE stored_at >= now() - interval '1 hour' GROUP BY 1"
        ),
        (
            "naive_latency_per_minute_1h",
            "SELECT date_trunc('minute', stored_at), percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY stored_at - created_at) FROM inbox_messages WHERE stored_at >= now() - interval '1 hour' GROUP BY 1"
        ),
        (
            "naive_top_unread_mailboxes",
            "SELECT owner, count(*) FROM inbox_messages WHERE read_at IS NULL GROUP BY owner ORDER BY 2 DESC LIMIT 100"
        ),
    ]

    /// Fills the scratch database; returns the seconds it took.
    private func fill(_ connection: PostgresConnection) async throws -> Double {
        let started = ContinuousClock.now
        let owners = Int64(mailboxes)
        try await connection.query(
            """
            INSERT INTO mailboxes (owner, created_at)
            SELECT decode(lpad(to_hex(i), 64, '0'), 'hex'), now() - interval '30 days' FROM generate_series(1, \(owners)) i
            """
        )
        let spanMilliseconds = Int64(days * 86_400_000)
        let total = Int64(messages)
        var done: Int64 = 0
        while done < total {
            let upTo = min(total, done + Int64(chunk))
            // Message i: stored at an even pace ending now; to mailbox (i*7919 mod N)+1 from (i*104729 mod N)+1;
            // a ULID-ordered id; 5–205 ms end-to-end, 1 in 1000 up to 5 s; 9 in 10 read.
            try await connection.query(
                """
                WITH m AS (
                    SELECT decode(lpad(to_hex((i * 7919) % \(owners) + 1), 64, '0'), 'hex') AS recipient,
                           decode(lpad(to_hex((i * 104729) % \(owners) + 1), 64, '0'), 'hex') AS sender,
                           (lpad(to_hex((extract(epoch FROM s.stored_at) * 1000)::bigint), 12, '0')
                               || lpad(to_hex(i), 20, '0'))::uuid AS id,
                           s.stored_at - CASE WHEN i % 1000 = 0 THEN (i % 5000) ELSE 5 + (i * 37) % 200 END
                               * interval '1 millisecond' AS created_at,
                           decode(repeat(lpad(to_hex(i % 256), 2, '0'), 64), 'hex') AS body,
                           decode(repeat('ab', 32), 'hex') AS hash, decode(repeat('cd', 64), 'hex') AS signature,
                           CASE WHEN i % 10 <> 0 THEN s.stored_at + interval '1 minute' END AS read_at, s.stored_at
                    FROM generate_series(\(done + 1), \(upTo)) i,
                         LATERAL (SELECT now() - ((\(total) - i) * \(spanMilliseconds) / \(total))
                                  * interval '1 millisecond' AS stored_at) s
                ), inserted AS (
                    INSERT INTO messages (recipient, id, sender, created_at, inbox_body, sentbox_body, inbox_body_hash,
                                          sentbox_body_hash, signature, read_at, stored_at)
                    SELECT recipient, id, sender, created_at, body, body, hash, hash, signature, read_at, stored_at FROM m
                ), usage AS (
                    -- The rollups the worker's batch statement keeps (MessageWriter), from the same rows.
                    INSERT INTO mailbox_usage AS u (owner, messages, unread, last_active_at)
                    SELECT recipient, count(*), count(*) FILTER (WHERE read_at IS NULL), max(stored_at) FROM m
                    GROUP BY recipient ORDER BY recipient
                    ON CONFLICT (owner) DO UPDATE
                        SET messages = u.messages + excluded.messages, unread = u.unread + excluded.unread,
                            last_active_at = greatest(u.last_active_at, excluded.last_active_at)
                ), per_minute AS (
                    INSERT INTO stats_stored_per_minute AS s (minute, backend, messages)
                    SELECT date_trunc('minute', stored_at), pg_backend_pid(), count(*) FROM m GROUP BY 1 ORDER BY 1
                    ON CONFLICT (minute, backend) DO UPDATE SET messages = s.messages + excluded.messages
                )
                INSERT INTO stats_latency_per_minute AS l (minute, backend, bucket, messages)
                SELECT minute, pg_backend_pid(), bucket, count(*)
                FROM (SELECT date_trunc('minute', stored_at) AS minute,
                             CASE WHEN ms <= 1 THEN 0 ELSE least(ceil(ln(ms) / ln(1.1)), 32000)::smallint END AS bucket
                      FROM (SELECT stored_at, date_part('epoch', stored_at - created_at) * 1000 AS ms FROM m) r) b
                GROUP BY minute, bucket ORDER BY minute, bucket
                ON CONFLICT (minute, backend, bucket) DO UPDATE SET messages = l.messages + excluded.messages
                """
            )
            try await connection.query(
                """
                INSERT INTO rejected_envelopes (topic, kafka_partition, kafka_offset, reason, envelope_bytes, worker, rejected_at)
                SELECT 'mailroom.envelopes', (i % 12)::int, i,
                       (ARRAY['bad_signature', 'no_recipient_mailbox', 'mailbox_full', 'created_in_future', 'malformed'])[i % 5 + 1],
                       600, 'bench', now() - ((\(total) - i) * \(spanMilliseconds) / \(total)) * interval '1 millisecond'
                FROM generate_series(\(done + 1), \(upTo)) i WHERE i % 100 = 0
                """
            )
            done = upTo
            note("filled \(done) of \(total) messages (\(Int((ContinuousClock.now - started).components.seconds)) s)")
        }
        try await connection.query(
            """
            INSERT INTO worker_progress (consumer_group, topic, kafka_partition, next_offset, high_watermark, worker)
            SELECT 'mailroom-workers', 'mailroom.envelopes', p, \(total / 12) - p * 10, \(total / 12), 'bench'
            FROM generate_series(0, 11) p
            """
        )
        note("vacuum analyze…")
        try await connection.query("VACUUM ANALYZE")
        return Double((ContinuousClock.now - started).components.seconds)
    }

    private func sizes(_ connection: PostgresConnection) async throws -> [String: Any] {
        var out: [String: Any] = [:]
        for table in [
            "messages", "rejected_envelopes", "mailbox_usage", "stats_stored_per_minute",
            "stats_latency_per_minute", "stats_rejected_per_minute",
        ] {
            let row = try await connection.query(
                "SELECT (SELECT count(*) FROM \(identifier: table)), pg_total_relation_size(\(table)::regclass)"
            ).single()
            let (rows, bytes) = try row.decode(Int64.self, Int64.self)
            out[table] = ["rows": rows, "mb": bytes / 1_048_576]
        }
        return out
    }

    private func time(_ sql: PostgresQuery, on connection: PostgresConnection) async throws -> [String: Any] {
        var samples: [Double] = []
        var rows = 0
        _ = try await connection.query(sql)  // warm the cache, as a dashboard refreshing every few seconds does
        for _ in 0..<max(1, runs) {
            let started = ContinuousClock.now
            rows = try await connection.query(sql).count
            let elapsed = ContinuousClock.now - started
            samples.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        samples.sort()
        let round = { (x: Double) in (x * 100).rounded() / 100 }
        return ["median": round(samples[samples.count / 2]), "max": round(samples.last!), "rows": rows]
    }

    private func printTable(_ report: [String: Any]) {
        for key in ["messages", "mailboxes", "days", "fill_seconds", "runs"] {
            if let value = report[key] {
                CLIOutput.line("\(key.padding(toLength: 32, withPad: " ", startingAt: 0)) \(value)")
            }
        }
        if let sizes = report["sizes"] as? [String: Any] {
            for (table, value) in sizes.sorted(by: { $0.key < $1.key }) {
                let entry = value as? [String: Any] ?? [:]
                CLIOutput.line(
                    "\(("size " + table).padding(toLength: 32, withPad: " ", startingAt: 0)) \(entry["rows"] ?? "?") rows, \(entry["mb"] ?? "?") MB"
                )
            }
        }
        if let timings = report["query_ms"] as? [String: Any] {
            for (name, _) in Self.queries {
                guard let t = timings[name] as? [String: Any] else { continue }
                CLIOutput.line(
                    "\(name.padding(toLength: 32, withPad: " ", startingAt: 0)) median \(t["median"]!) ms, max \(t["max"]!) ms, \(t["rows"]!) rows"
                )
            }
        }
    }
}
