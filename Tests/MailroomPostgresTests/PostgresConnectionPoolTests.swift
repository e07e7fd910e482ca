import Foundation
import MailroomTestSupport
import Synchronization
import Testing

@testable import MailroomPostgres

@Suite("Connection pool and LISTEN against the real PostgreSQL", .enabled(if: TestEnvironment.hasDatabase))
struct PostgresConnectionPoolTests {
    static func sessions(_ database: TestDatabase, _ name: String) async throws -> Int64 {
        try await database.withConnection { connection in
            try await connection.query(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = \(name)"
            ).single().decode(Int64.self, column: 0)
        }
    }

    @Test func neverOpensMoreThanItsSizeAndReplacesALostSession() async throws {
        try await TestDatabase.with { database in
            let pool = PostgresConnectionPool(
                .init(connection: .init(url: database.url, applicationName: "pool-test"), size: 3)
            )
            // 40 borrowers at once, each holding its connection for a moment.
            let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            try await connection.query("SELECT pg_sleep(0.01)")
                            return try await connection.query("SELECT pg_backend_pid()").single().decode(
                                Int32.self,
                                column: 0
                            )
                        }
                    }
                }
                var pids: Set<Int32> = []
                for try await pid in group { pids.insert(pid) }
                return pids
            }
            #expect(pids.count == 3)
            #expect(try await Self.sessions(database, "pool-test") == 3)

            // Kill every pooled session: the borrower sees the loss once, later borrowers get fresh sessions.
            _ = try await database.withConnection { connection in
                try await connection.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool-test'"
                )
            }
            #expect(try await Self.eventually { try await Self.sessions(database, "pool-test") == 0 })
            var losses = 0
            for _ in 0..<6 {
                do {
                    _ = try await pool.withConnection { try await $0.query("SELECT 1") }
                } catch let error as PostgresError {
                    #expect(error.isConnectionLoss)
                    losses += 1
                }
            }
            #expect(losses == 3)
            #expect(
                try await pool.withConnection {
                    try await $0.query("SELECT 41 + 1").single().decode(Int64.self, column: 0)
                } == 42
            )

            // A borrower waiting for a connection can be cancelled. Three borrowers hold every connection until
            // told to let go; each says when it has one.
            let (borrowed, borrowing) = AsyncStream.makeStream(of: Void.self)
            let letGo = (0..<3).map { _ in AsyncStream.makeStream(of: Void.self) }
            let holders = letGo.map { (release, _) in
                Task {
                    try await pool.withConnection { _ in
                        borrowing.yield()
                        for await _ in release {}
                    }
                }
            }
            var holding = 0
            for await _ in borrowed {
                holding += 1
                if holding == 3 { break }
            }
            let waiter = Task { try await pool.withConnection { _ in "got one" } }
            #expect(try await Self.eventually { pool.waitingBorrowers == 1 }, "the fourth borrower never waited")
            // Cancelling takes it out of the queue at once; had it stayed there, the connections let go next
            // would reach it and it would return "got one".
            waiter.cancel()
            #expect(pool.waitingBorrowers == 0)
            for (_, releasing) in letGo { releasing.finish() }
            await #expect(throws: CancellationError.self) { try await waiter.value }
            for holder in holders { try await holder.value }

            await pool.close()
            await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in 1 } }
        }
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    static func eventually(
        timeout: Duration = .seconds(30),
        _ condition: () async throws -> Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await condition()
    }

    /// The running thread's name, as the kernel knows it.
    static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "unknown")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func tasksPreferringThePoolsExecutorsResumeOnTheThreadThatReadsTheirConnection() async throws {
        try await TestDatabase.with { database in
            let pool = PostgresConnectionPool(
                .init(connection: .init(url: database.url, applicationName: "loop-test"), size: 2)
            )
            defer { Task { await pool.close() } }
            // Two different executors (one per core; other tests running at the same time also take loops in
            // turn, so consecutive calls may return the same one).
            var executors = [pool.nextExecutor()]
            for _ in 0..<16 where executors.count < 2 {
                let next = pool.nextExecutor()
                if next as AnyObject !== executors[0] as AnyObject { executors.append(next) }
            }
            #expect(executors.count == min(2, ProcessInfo.processInfo.activeProcessorCount))

            // Two tasks, each preferring its own executor: after every query the task runs on its loop's thread,
            // always the same one, and always on the same connection (its loop's).
            let seen = try await withThrowingTaskGroup(of: (threads: Set<String>, pids: Set<Int32>).self) { group in
                for executor in executors {
                    group.addTask(executorPreference: executor) {
                        var threads: Set<String> = []
                        var pids: Set<Int32> = []
                        for _ in 0..<50 {
                            let pid = try await pool.withConnection { connection in
                                try await connection.query("SELECT pg_backend_pid()").single().decode(
                                    Int32.self,
                                    column: 0
                                )
                            }
                            threads.insert(Self.threadName())
                            pids.insert(pid)
                        }
                        return (threads, pids)
                    }
                }
                var seen: [(threads: Set<String>, pids: Set<Int32>)] = []
                for try await result in group { seen.append(result) }
                return seen
            }
            for task in seen {
                #expect(task.threads.count == 1)
                #expect(task.threads.first?.hasPrefix("mailroom.pq.") == true, "ran on \(task.threads)")
                #expect(task.pids.count == 1)
            }
            // With more than one core the two executors are two threads, each with its own connection.
            if executors.count == 2 {
                #expect(Set(seen.map { $0.threads.first }).count == 2)
                #expect(Set(seen.map { $0.pids.first }).count == 2)
            }

            // Many more tasks than connections, some on the executors and some not, with statements that wait:
            // connections of other loops are lent when none of the task's own is idle, and every task finishes.
            let sums = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<24 {
                    group.addTask(executorPreference: index % 3 == 2 ? nil : executors[index % executors.count]) {
                        try await pool.withConnection { connection in
                            try await connection.query("SELECT pg_sleep(0.005)")
                            return try await connection.query("SELECT \(Int64(index)) + 1").single().decode(
                                Int64.self,
                                column: 0
                            )
                        }
                    }
                }
                var sums: [Int64] = []
                for try await sum in group { sums.append(sum) }
                return sums.sorted()
            }
            #expect(sums == (1...24).map(Int64.init))
            #expect(try await Self.sessions(database, "loop-test") == 2)
        }
    }

    @Test func listenerDeliversNotificationsAndReconnects() async throws {
        try await TestDatabase.with { database in
            let events = Mutex<[String]>([])
            let listener = PostgresListener(
                .init(
                    connection: .init(url: database.url, applicationName: "listener-test"),
                    channels: ["test channel"],
                    minimumBackoff: .milliseconds(20)
                )
            ) { event in
                switch event {
                case .connected(_, let isReconnect):
                    events.withLock { $0.append(isReconnect ? "reconnected" : "connected") }
                case .notification(let notification):
                    events.withLock { $0.append("\(notification.channel)=\(notification.payload)") }
                case .disconnected: events.withLock { $0.append("disconnected") }
                }
            }
            listener.start()
            func waitFor(_ item: String) async throws -> Bool {
                for _ in 0..<200 {
                    if events.withLock({ $0.contains(item) }) { return true }
                    try await Task.sleep(for: .milliseconds(10))
                }
                return false
            }
            #expect(try await waitFor("connected"))
            _ = try await database.withConnection { try await $0.query("SELECT pg_notify('test channel', 'one')") }
            #expect(try await waitFor("test channel=one"))
            _ = try await database.withConnection { connection in
                try await connection.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'listener-test'"
                )
            }
            #expect(try await waitFor("disconnected"))
            #expect(try await waitFor("reconnected"))
            _ = try await database.withConnection { try await $0.query("SELECT pg_notify('test channel', 'two')") }
            #expect(try await waitFor("test channel=two"))
            await listener.stop()
            #expect(try await Self.sessions(database, "listener-test") == 0)
        }
    }
}
