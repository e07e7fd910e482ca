import Foundation
import MailroomCore
import MailroomPostgres
import MailroomProducer
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Ordinary database incidents — a read-only server, a lock held too long, a statement timeout, a full disk —
/// are waited out: with a worker running and envelopes flowing through the incident, every envelope is stored
/// exactly once once it clears, and none is rejected. Each test acts on its own database only.
@Suite("Worker through ordinary database incidents and a database restored behind Kafka", .serialized)
struct DatabaseIncidentTests {
    static let total = 3_000  // rows of ~500 bytes (400-byte bodies)

    /// One incident: `begin` makes it (after the first half is stored), the second half is sent while it lasts,
    /// the worker must have retried for `condition`, then `end` clears it and everything arrives.
    private func throughIncident(
        _ harness: PipelineHarness,
        condition: String,
        name: String,
        configure: (inout WorkerConfiguration) -> Void = { _ in },
        begin: (PipelineHarness) async throws -> Void,
        end: (PipelineHarness) async throws -> Void
    ) async throws {
        let sender = Identity.generate()
        let recipients = (0..<20).map { _ in Identity.generate() }
        try await harness.setUpMailboxes([sender] + recipients)
        let producer = try harness.producer()
        let messages = (0..<Self.total).map {
            BulkMessage(
                recipient: recipients[$0 % recipients.count].publicKey.textileString,
                body: [UInt8]("m\($0) ".utf8) + [UInt8](repeating: 0x2E, count: 400)
            )
        }
        let worker = harness.startWorker(name: name) {
            $0.batchSize = 100
            $0.shutdownGracePeriod = .seconds(2)
            configure(&$0)
        }
        do {
            try await deliver(
                messages,
                from: sender,
                producer: producer,
                worker: worker,
                condition: condition,
                begin: begin,
                end: end,
                harness
            )
        } catch {
            await producer.close()
            try? await worker.stop()
            throw error
        }
        try await worker.stop()
    }

    private func deliver(
        _ messages: [BulkMessage],
        from sender: Identity,
        producer: MailroomProducer,
        worker: RunningWorker,
        condition: String,
        begin: (PipelineHarness) async throws -> Void,
        end: (PipelineHarness) async throws -> Void,
        _ harness: PipelineHarness
    ) async throws {
        var sent: [MessageID] = []
        func send(_ slice: ArraySlice<BulkMessage>) async { sent += await Self.send(slice, from: sender, producer) }
        await send(messages[..<(Self.total / 2)])
        #expect(try await harness.eventually { worker.worker.statistics.snapshot.stored > 0 })

        try await begin(harness)
        await send(messages[(Self.total / 2)...])
        await producer.close()
        let hit = try await harness.eventually {
            worker.worker.statistics.snapshot.postgresRetries[condition, default: 0] > 0
        }
        #expect(hit, "the worker never met \(condition): \(worker.worker.statistics.snapshot.postgresRetries)")
        let storedDuring = worker.worker.statistics.snapshot.stored
        try await end(harness)

        #expect(try await harness.eventually(timeout: .seconds(120)) { try await harness.inboxCount() == Self.total })
        // Per-id accounting against what was produced: each id once in each box, the counters once per message.
        try await Self.expectEachStoredOnce(sent, harness)
        #expect(try await harness.sentboxCount() == Self.total)
        #expect(try await harness.count("SELECT coalesce(sum(messages), 0)::bigint FROM mailbox_usage") == Self.total)
        #expect(try await harness.rejectedCount() == 0)
        #expect(worker.worker.statistics.snapshot.rejected.isEmpty, "\(worker.worker.statistics.snapshot.rejected)")
        #expect(storedDuring < Self.total, "the incident must hit mid-run for this test to mean anything")
    }

    /// Sends `messages` from `sender`; returns the ids of those the broker acknowledged (a failure is an issue).
    private static func send(
        _ messages: ArraySlice<BulkMessage>,
        from sender: Identity,
        _ producer: MailroomProducer
    ) async -> [MessageID] {
        var sent: [MessageID] = []
        for result in await producer.sendBulk(from: sender, messages: Array(messages)) {
            guard case .sent(let id, _, _) = result else {
                Issue.record("a send failed: \(result)")
                continue
            }
            sent.append(id)
        }
        return sent
    }

    /// Per-id accounting against what was produced: every id in the inbox once, and nothing else.
    private static func expectEachStoredOnce(_ sent: [MessageID], _ harness: PipelineHarness) async throws {
        let stored = try await harness.database.withConnection { connection in
            try await connection.query("SELECT id FROM inbox_messages").map { try $0.decode(MessageID.self, column: 0) }
        }
        #expect(stored.count == Self.total)
        #expect(Set(sent).subtracting(stored).count == 0, "produced but not stored")
        #expect(Set(stored).subtracting(sent).count == 0, "stored but not produced")
    }

    /// Runs `body` with a fresh pipeline of three partitions, dropped afterwards whether or not `body` throws.
    private static func withHarness(_ body: (PipelineHarness) async throws -> Void) async throws {
        try await PipelineHarness.with(partitions: 3, body)
    }

    /// Ends the worker's sessions on this database, so that it reconnects and meets the new settings.
    private static func terminateWorkerSessions(_ harness: PipelineHarness) async throws {
        try await harness.database.withConnection { connection in
            _ = try await connection.query(
                """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = \(harness.database.name) AND application_name = 'mailroom-worker'
                """
            )
        }
    }

    /// Changes a setting of the test's database, from the admin database (the test's own may be read-only).
    private static func alterDatabase(_ harness: PipelineHarness, _ setting: StaticString) async throws {
        try await PostgresConnection.withConnection(.init(url: try TestEnvironment.requireDatabaseURL())) {
            connection in
            _ = try await connection.query("ALTER DATABASE \(identifier: harness.database.name) \(sql: setting)")
        }
    }

    /// A server that turned read-only (as after a failover): reconnecting with `target_session_attrs=read-write`,
    /// the worker finds no primary and waits until there is one again.
    @Test func aReadOnlyServerIsWaitedOutLookingForAPrimary() async throws {
        try await Self.withHarness { harness in
            try await throughIncident(
                harness,
                condition: "connection",
                name: "incident-read-only",
                begin: { harness in
                    try await Self.alterDatabase(harness, "SET default_transaction_read_only = on")
                    try await Self.terminateWorkerSessions(harness)
                },
                end: { harness in try await Self.alterDatabase(harness, "RESET default_transaction_read_only") }
            )
        }
    }

    /// The same, for a worker told to accept any server (`target_session_attrs=any` in its URL): its writes
    /// fail with SQLSTATE 25006, which is a condition to wait out, not a reason to give up the messages.
    @Test func writesRefusedAsReadOnlyAreRetriedNotRejected() async throws {
        try await Self.withHarness { harness in
            try await throughIncident(
                harness,
                condition: "read_only",
                name: "incident-read-only-any",
                configure: {
                    $0.databaseURL += ($0.databaseURL.contains("?") ? "&" : "?") + "target_session_attrs=any"
                },
                begin: { harness in
                    try await Self.alterDatabase(harness, "SET default_transaction_read_only = on")
                    try await Self.terminateWorkerSessions(harness)
                },
                end: { harness in try await Self.alterDatabase(harness, "RESET default_transaction_read_only") }
            )
        }
    }

    /// Another session holds the message table locked while a timeout is set for the database: the worker's
    /// writes wait on the lock until the timeout cuts them (`lock_timeout`: SQLSTATE 55P03, `statement_timeout`:
    /// 57014), and are tried again until the lock is released and the setting reset.
    @Test(arguments: [
        ("lock_timeout", "SET lock_timeout = '200ms'" as StaticString, "RESET lock_timeout" as StaticString),
        ("statement_timeout", "SET statement_timeout = '200ms'", "RESET statement_timeout"),
    ])
    func aLockHeldPastATimeoutIsWaitedOut(condition: String, set: StaticString, reset: StaticString) async throws {
        try await Self.withHarness { harness in
            let holder = LockHolder()
            try await throughIncident(
                harness,
                condition: condition,
                name: "incident-\(condition)",
                begin: { harness in
                    try await Self.alterDatabase(harness, set)
                    try await holder.lock(harness)
                    try await Self.terminateWorkerSessions(harness)
                },
                end: { harness in
                    try await Self.alterDatabase(harness, reset)
                    try await holder.release()
                }
            )
        }
    }

    /// The message table lives in a tablespace on a 512 KiB tmpfs that fills up (SQLSTATE 53100); the operator
    /// grows the filesystem and everything arrives. Needs root (mount); skipped otherwise.
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root")) func aFullDiskIsWaitedOut() async throws {
        let harness = try await PipelineHarness.make(partitions: 3)
        let tablespace = SmallFilesystem(name: "mailroom_ts_\(UInt32.random(in: 0...UInt32.max))")
        try tablespace.mount(size: "512k")
        do {
            try await harness.database.withConnection { connection in
                try await connection.executeScript(
                    "CREATE TABLESPACE \(tablespace.name) LOCATION '\(tablespace.path)'"
                )
                try await connection.executeScript("ALTER TABLE messages SET TABLESPACE \(tablespace.name)")
            }
            try await throughIncident(
                harness,
                condition: "disk_full",
                name: "incident-disk-full",
                begin: { _ in },  // the first half fits; the second fills the filesystem
                end: { _ in try tablespace.grow(to: "64m") }
            )
        } catch {
            Issue.record(error)
        }
        await harness.drop()
        try? await PostgresConnection.withConnection(.init(url: try TestEnvironment.requireDatabaseURL())) {
            connection in
            try await connection.executeScript("DROP TABLESPACE IF EXISTS \(tablespace.name)")
        }
        tablespace.unmount()
    }

    /// A database restored to a point before Kafka's committed offsets (commits lost): on assignment the
    /// worker starts each partition where `worker_progress` says, recorded with the rows, so the lost
    /// messages come back from Kafka; nothing is stored twice.
    @Test func aDatabaseRolledBackBehindKafkaGetsItsLostMessagesBack() async throws {
        try await Self.withHarness { harness in
            let sender = Identity.generate()
            let recipients = (0..<20).map { _ in Identity.generate() }
            try await harness.setUpMailboxes([sender] + recipients)
            let half = Self.total / 2
            let messages = (0..<Self.total).map {
                BulkMessage(
                    recipient: recipients[$0 % recipients.count].publicKey.textileString,
                    body: [UInt8]("m\($0)".utf8)
                )
            }
            let producer = try harness.producer()
            var sent: [MessageID] = []
            func send(_ slice: ArraySlice<BulkMessage>) async { sent += await Self.send(slice, from: sender, producer) }

            // The backup: the first half stored, and the progress recorded with it.
            let first = harness.startWorker(name: "restore-first")
            await send(messages[..<half])
            #expect(try await harness.eventually { try await harness.inboxCount() == half })
            try await first.stop()
            let backup = try await harness.database.withConnection { connection in
                let xid = try await connection.query("SELECT pg_current_xact_id()::text::bigint").single()
                    .decode(Int64.self, column: 0)
                let progress = try await connection.query(
                    "SELECT kafka_partition, next_offset FROM worker_progress WHERE consumer_group = \(harness.group)"
                ).map { (try $0.decode(Int32.self, column: 0), try $0.decode(Int64.self, column: 1)) }
                return (xid: xid, progress: progress)
            }
            #expect(!backup.progress.isEmpty)

            // Later work, committed to Kafka as well.
            let second = harness.startWorker(name: "restore-second")
            await send(messages[half...])
            await producer.close()
            #expect(try await harness.eventually { try await harness.inboxCount() == Self.total })
            try await second.stop()

            // The database goes back to the backup: what was stored after it, and its progress, are lost.
            try await harness.database.withConnection { connection in
                _ = try await connection.query("DELETE FROM messages WHERE stored_xid > \(backup.xid)")
                for (partition, offset) in backup.progress {
                    _ = try await connection.query(
                        """
                        UPDATE worker_progress SET next_offset = \(offset)
                        WHERE consumer_group = \(harness.group) AND kafka_partition = \(partition)
                        """
                    )
                }
            }
            #expect(try await harness.inboxCount() == half)

            let third = harness.startWorker(name: "restore-third")
            #expect(
                try await harness.eventually(timeout: .seconds(90)) { try await harness.inboxCount() == Self.total }
            )
            try await third.stop()
            try await Self.expectEachStoredOnce(sent, harness)
            // It started exactly where the database's record ends: the first half was not read again.
            #expect(third.worker.statistics.snapshot.stored == Self.total - half)
            #expect(third.worker.statistics.snapshot.redelivered == 0)
            #expect(
                try await harness.count("SELECT coalesce(sum(messages), 0)::bigint FROM mailbox_usage") == Self.total
            )
            #expect(try await harness.rejectedCount() == 0)
        }
    }
}

/// A session that holds the message table (`messages`) in ACCESS EXCLUSIVE mode until released.
private actor LockHolder {
    private var connection: PostgresConnection?

    func lock(_ harness: PipelineHarness) async throws {
        let connection = try await harness.database.connect()
        self.connection = connection
        _ = try await connection.query("BEGIN")
        _ = try await connection.query("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
    }

    func release() async throws {
        guard let connection else { return }
        self.connection = nil
        _ = try await connection.query("ROLLBACK")
        await connection.close()
    }
}

/// A size-limited tmpfs owned by the PostgreSQL server's user, for a tablespace that fills up.
private struct SmallFilesystem {
    let name: String
    var path: String { "/tmp/\(name)" }

    /// The owner PostgreSQL runs as: `postgres` when that user exists (the scripts run it so as root), else us.
    private var owner: String {
        if let entry = getpwnam("postgres") { return "uid=\(entry.pointee.pw_uid),gid=\(entry.pointee.pw_gid)" }
        return "uid=\(getuid()),gid=\(getgid())"
    }

    func mount(size: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try run("/bin/mount", "-t", "tmpfs", "-o", "size=\(size),mode=0700,\(owner)", "tmpfs", path)
    }

    func grow(to size: String) throws {
        try run("/bin/mount", "-o", "remount,size=\(size)", path)
    }

    func unmount() {
        try? run("/bin/umount", path)
        try? FileManager.default.removeItem(atPath: path)
    }

    private func run(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSupportError("\(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
    }
}
