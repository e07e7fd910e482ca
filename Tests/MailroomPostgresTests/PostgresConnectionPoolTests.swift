import Foundation
import MailroomPostgres
import MailroomTestSupport
import Synchronization
import Testing

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
                .init(connection: .init(url: database.url, applicationName: "pool-test"), size: 3))
            // 40 borrowers at once, each holding its connection for a moment.
            let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            try await connection.query("SELECT pg_sleep(0.01)")
                            return try await connection.query("SELECT pg_backend_pid()").single().decode(
                                Int32.self, column: 0)
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
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool-test'")
            }
            for _ in 0..<200 where try await Self.sessions(database, "pool-test") > 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
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
                } == 42)

            // A borrower waiting for a connection can be cancelled.
            let held = Task { try await pool.withConnection { _ in try await Task.sleep(for: .seconds(1)) } }
            let held2 = Task { try await pool.withConnection { _ in try await Task.sleep(for: .seconds(1)) } }
            let held3 = Task { try await pool.withConnection { _ in try await Task.sleep(for: .seconds(1)) } }
            try await Task.sleep(for: .milliseconds(100))
            let waiter = Task { try await pool.withConnection { _ in "got one" } }
            try await Task.sleep(for: .milliseconds(50))
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
            for task in [held, held2, held3] { try await task.value }

            await pool.close()
            await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in 1 } }
        }
    }

    @Test func listenerDeliversNotificationsAndReconnects() async throws {
        try await TestDatabase.with { database in
            let events = Mutex<[String]>([])
            let listener = PostgresListener(
                .init(
                    connection: .init(url: database.url, applicationName: "listener-test"), channels: ["test channel"],
                    minimumBackoff: .milliseconds(20))
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
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'listener-test'")
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
