import Foundation
import MailroomTestSupport
import Testing

@testable import MailroomPostgres

@Suite("libpq layer against the real PostgreSQL", .enabled(if: TestEnvironment.hasDatabase))
struct PostgresConnectionTests {
    @Test func roundTripsEveryTypeInBinary() async throws {
        try await TestDatabase.withConnection { connection in
            let bytes: [UInt8] = [0, 1, 2, 0xff, 0x00, 0x7f]
            let text = "héllo, wörld ✉️ 'quoted' \"double\""
            let number: Int64 = -9_000_000_000_123
            let date = Date(timeIntervalSince1970: 1_790_000_000.123456)
            let uuid = UUID()
            let noText: String? = nil
            let rows = try await connection.query(
                """
                SELECT \(bytes)::bytea, \(text)::text, \(number)::int8, \(true)::bool, \(false)::bool,
                       \(date)::timestamptz, \(uuid)::uuid, \(noText)::text, \(Int32(42))::int4, \(2.5)::float8,
                       ''::bytea
                """
            )
            let row = try rows.single()
            #expect(try row.decode([UInt8].self, column: 0) == bytes)
            #expect(try row.decode(String.self, column: 1) == text)
            #expect(try row.decode(Int64.self, column: 2) == number)
            #expect(try row.decode(Bool.self, column: 3) == true)
            #expect(try row.decode(Bool.self, column: 4) == false)
            let decodedDate = try row.decode(Date.self, column: 5)
            #expect(abs(decodedDate.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_001)
            #expect(try row.decode(UUID.self, column: 6) == uuid)
            #expect(try row.decode(String?.self, column: 7) == nil)
            #expect(try row.decode(Int32.self, column: 8) == 42)
            #expect(try row.decode(Double.self, column: 9) == 2.5)
            #expect(try row.decode([UInt8].self, column: 10) == [])
        }
    }

    @Test func timestampsKeepMicroseconds() async throws {
        try await TestDatabase.withConnection { connection in
            let row = try await connection.query(
                "SELECT '2026-11-27 10:11:12.345678+00'::timestamptz, extract(epoch from '2026-11-27 10:11:12.345678+00'::timestamptz)::float8"
            ).single()
            let (date, epoch) = try row.decode(Date.self, Double.self)
            #expect(abs(date.timeIntervalSince1970 - epoch) < 0.000_001)
            let again = try await connection.query("SELECT \(date)::timestamptz = '2026-11-27 10:11:12.345678+00'")
                .single()
            #expect(try again.decode(Bool.self, column: 0))
        }
    }

    @Test func nullsAndOptionalsRoundTrip() async throws {
        try await TestDatabase.withConnection { connection in
            let maybeBytes: [UInt8]? = nil
            let maybeDate: Date? = nil
            let maybeUUID: UUID? = nil
            let maybeNumber: Int64? = nil
            let row = try await connection.query(
                "SELECT \(maybeBytes)::bytea, \(maybeDate)::timestamptz, \(maybeUUID)::uuid, \(maybeNumber)::int8, \(maybeNumber) IS NULL"
            ).single()
            #expect(try row.decode([UInt8]?.self, column: 0) == nil)
            #expect(try row.decode(Date?.self, column: 1) == nil)
            #expect(try row.decode(UUID?.self, column: 2) == nil)
            #expect(try row.decode(Int64?.self, column: 3) == nil)
            #expect(try row.decode(Bool.self, column: 4))
            // A NULL read as a non-optional type is a decoding error, not a crash or a zero.
            let error = #expect(throws: PostgresError.self) { try row.decode(Int64.self, column: 3) }
            #expect(error?.code == .decoding)
        }
    }

    @Test func tableRoundTripWithArraysAndAffectedRows() async throws {
        try await TestDatabase.withConnection { connection in
            try await connection.query(
                "CREATE TABLE t (id uuid PRIMARY KEY, owner bytea NOT NULL, n int8, at timestamptz)"
            )
            let ids = (0..<5).map { _ in UUID() }
            let owners: [[UInt8]] = (0..<5).map { [UInt8](repeating: UInt8($0), count: 32) }
            let numbers: [Int64?] = [1, nil, 3, nil, 5]
            let inserted = try await connection.query(
                """
                INSERT INTO t (id, owner, n)
                SELECT * FROM unnest(\(PostgresArray(ids)), \(PostgresArray(owners)), \(PostgresArray(numbers)))
                """
            )
            #expect(inserted.affectedRows == 5)
            let rows = try await connection.query("SELECT id, owner, n FROM t ORDER BY owner")
            #expect(rows.count == 5)
            for (index, row) in rows.enumerated() {
                let (id, owner, n) = try row.decode(UUID.self, [UInt8].self, Int64?.self)
                #expect(id == ids[index])
                #expect(owner == owners[index])
                #expect(n == numbers[index])
            }
            let updated = try await connection.query("UPDATE t SET at = now() WHERE n IS NOT NULL")
            #expect(updated.affectedRows == 3)
            #expect(try rows[0].decode(UUID.self, named: "id") == ids[0])
        }
    }

    @Test func uniqueViolationCarriesSQLState23505() async throws {
        try await TestDatabase.withConnection { connection in
            try await connection.query("CREATE TABLE u (k text PRIMARY KEY)")
            try await connection.query("INSERT INTO u VALUES (\("secret-value"))")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.query("INSERT INTO u VALUES (\("secret-value"))")
            }
            #expect(error?.code == .server)
            #expect(error?.sqlState == PostgresError.uniqueViolation)
            #expect(error?.sqlState == "23505")
            // The row value (which could be a key or a body) is never in the error text.
            #expect(error.map { !"\($0)".contains("secret-value") } == true)
            // The connection is still usable after a statement error.
            let count = try await connection.query("SELECT count(*) FROM u").single().decode(Int64.self, column: 0)
            #expect(count == 1)
        }
    }

    @Test func binaryCopyLoadsRowsBeyondTheSocketBuffers() async throws {
        try await TestDatabase.withConnection { connection in
            try await connection.query(
                "CREATE TABLE c (id uuid PRIMARY KEY, owner bytea NOT NULL, n int8, at timestamptz, body bytea)"
            )
            // ~6 MB: far more than a socket takes at once, so the driver must flush it across writable events.
            let count = 3_000
            let ids = (0..<count).map { _ in UUID() }
            let at = Date(timeIntervalSince1970: 1_790_000_000.25)
            var copy = PostgresBinaryCopy()
            for index in 0..<count {
                copy.startRow(fields: 5)
                copy.append(ids[index])
                [UInt8](repeating: UInt8(index % 251), count: 32).withUnsafeBytes { copy.append(bytes: $0) }
                if index % 3 == 0 { copy.appendNull() } else { copy.append(Int64(index)) }
                copy.append(at)
                copy.append([UInt8](repeating: UInt8(index % 7), count: 2_000))
            }
            let copied = try await connection.copyIn(
                "COPY c (id, owner, n, at, body) FROM STDIN (FORMAT binary)",
                data: copy.finish()
            )
            #expect(copied == count)
            let row = try await connection.query(
                """
                SELECT count(*), count(n), sum(octet_length(body)), min(at) = max(at), min(at)
                FROM c
                """
            ).single()
            #expect(try row.decode(Int64.self, column: 0) == Int64(count))
            #expect(try row.decode(Int64.self, column: 1) == Int64(count - count / 3))
            #expect(try row.decode(Int64.self, column: 2) == Int64(count * 2_000))
            #expect(try row.decode(Bool.self, column: 3))
            #expect(
                abs(try row.decode(Date.self, column: 4).timeIntervalSince1970 - at.timeIntervalSince1970) < 0.000_001
            )
            let sample = try await connection.query("SELECT owner, n, body FROM c WHERE id = \(ids[999])").single()
            #expect(try sample.decode([UInt8].self, column: 0) == [UInt8](repeating: UInt8(999 % 251), count: 32))
            #expect(try sample.decode(Int64?.self, column: 1) == nil)
            #expect(try sample.decode([UInt8].self, column: 2) == [UInt8](repeating: UInt8(999 % 7), count: 2_000))
        }
    }

    @Test func binaryCopyOfATakenKeyFailsWholeWith23505AndTheSessionGoesOn() async throws {
        try await TestDatabase.withConnection { connection in
            try await connection.query("CREATE TABLE d (k int8 PRIMARY KEY, v bytea)")
            try await connection.query("INSERT INTO d VALUES (\(Int64(2)), \([UInt8]([1])))")
            var copy = PostgresBinaryCopy()
            for key in Int64(1)...3 {
                copy.startRow(fields: 2)
                copy.append(key)
                copy.append(Array("secret-body-\(key)".utf8))
            }
            let data = copy.finish()
            let error = await #expect(throws: PostgresError.self) {
                try await connection.withTransaction { connection in
                    try await connection.copyIn("COPY d (k, v) FROM STDIN (FORMAT binary)", data: data)
                }
            }
            #expect(error?.sqlState == PostgresError.uniqueViolation)
            #expect(error.map { !"\($0)".contains("secret-body") } == true)
            // Nothing of the failed COPY stayed, and the session runs the next statement.
            let keys = try await connection.query("SELECT k FROM d ORDER BY k").map {
                try $0.decode(Int64.self, column: 0)
            }
            #expect(keys == [2])
        }
    }

    @Test func malformedCopyStreamsAndStrayCopiesFailClearly() async throws {
        try await TestDatabase.withConnection { connection in
            try await connection.query("CREATE TABLE m (k int8)")
            // A row claiming two fields for a one-column COPY.
            var copy = PostgresBinaryCopy()
            copy.startRow(fields: 2)
            copy.append(Int64(1))
            copy.append(Int64(2))
            let malformed = await #expect(throws: PostgresError.self) {
                try await connection.copyIn("COPY m (k) FROM STDIN (FORMAT binary)", data: copy.finish())
            }
            #expect(malformed?.code == .server)
            #expect(malformed?.sqlState == "22P04")  // bad_copy_file_format
            // COPY FROM STDIN through query() is refused by the driver, not left waiting for data.
            let stray = await #expect(throws: PostgresError.self) {
                try await connection.query("COPY m (k) FROM STDIN")
            }
            #expect(stray?.code == .server)
            #expect(stray.map { "\($0)".contains("copyIn") } == true)
            let count = try await connection.query("SELECT count(*) FROM m").single().decode(Int64.self, column: 0)
            #expect(count == 0)
        }
    }

    @Test func aCopyWhoseDataLibpqCannotQueueClosesTheSessionInsteadOfLeavingItInCopy() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                try await connection.query("CREATE TABLE q (k int8)")
                var copy = PostgresBinaryCopy()
                copy.startRow(fields: 1)
                copy.append(Int64(1))
                connection.failNextCopyData()
                let error = await #expect(throws: PostgresError.self) {
                    try await connection.copyIn("COPY q (k) FROM STDIN (FORMAT binary)", data: copy.finish())
                }
                #expect(error.map { "\($0)".contains("could not queue") } == true)
                // The session is closed, so callers reconnect; a later statement fails at once instead of
                // meeting a session still waiting for COPY data.
                #expect(!connection.isConnected)
                await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            }
            // Nothing of the COPY stayed.
            let count = try await database.withConnection { connection in
                try await connection.query("SELECT count(*) FROM q").single().decode(Int64.self, column: 0)
            }
            #expect(count == 0)
        }
    }

    @Test func transactionsCommitAndRollBack() async throws {
        try await TestDatabase.withConnection { connection in
            try await connection.query("CREATE TABLE tx (n int8)")
            try await connection.withTransaction { connection in
                _ = try await connection.query("INSERT INTO tx VALUES (\(Int64(1)))")
            }
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await connection.withTransaction { connection in
                    try await connection.query("INSERT INTO tx VALUES (\(Int64(2)))")
                    throw Boom()
                }
            }
            let rows = try await connection.query("SELECT n FROM tx")
            #expect(rows.count == 1)
            #expect(try rows.single().decode(Int64.self, column: 0) == 1)
        }
    }

    @Test func cancellingTheTaskCancelsTheStatement() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                try await Self.cancelsTheRunningStatement(connection, observer: database)
            }
        }
    }

    /// Cancels a `pg_sleep(30)` once the server runs it (a statement cancelled before it is sent fails otherwise,
    /// without reaching the server): the server cancels it (57014) and the session stays usable.
    private static func cancelsTheRunningStatement(
        _ connection: PostgresConnection,
        observer database: TestDatabase
    ) async throws {
        let pid = try await connection.query("SELECT pg_backend_pid()").single().decode(Int32.self, column: 0)
        let task = Task { try await connection.query("SELECT pg_sleep(30)") }
        try await database.withConnection { observer in
            let deadline = ContinuousClock.now + .seconds(20)
            while try await observer.query(
                """
                SELECT count(*) FROM pg_stat_activity
                WHERE pid = \(pid) AND state = 'active' AND query = 'SELECT pg_sleep(30)'
                """
            ).single().decode(Int64.self, column: 0) == 0 {
                try #require(ContinuousClock.now < deadline, "the statement never ran")
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        task.cancel()
        let result = await task.result
        guard case .failure(let error as PostgresError) = result else {
            Issue.record("a cancelled pg_sleep should fail, got \(result)")
            return
        }
        #expect(error.sqlState == "57014")  // query_canceled
        #expect(connection.isConnected)
        #expect(try await connection.query("SELECT 1").single().decode(Int64.self, column: 0) == 1)
    }
}

@Suite("libpq layer failures")
struct PostgresConnectionFailureTests {
    @Test func malformedURLIsAClearErrorWithoutThePassword() async throws {
        let error = await #expect(throws: PostgresError.self) {
            _ = try await PostgresConnection.connect(url: "postgres://user:hunter2@[::1/db")
        }
        #expect(error?.code == .invalidURL)
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("invalid database URL"))
        #expect(!text.contains("hunter2"))

        let keyValue = await #expect(throws: PostgresError.self) {
            _ = try await PostgresConnection.connect(url: "host=127.0.0.1 nonsense_option=1")
        }
        #expect(keyValue?.code == .invalidURL)
    }

    /// A task cancelled while its statement waits behind another never sends it: it fails at once with
    /// `.cancelled` (not once the statement ahead finishes), the statement never runs, and the session goes on.
    @Test func aStatementQueuedBehindAnotherIsNotSentOnceItsTaskIsCancelled() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { holder in
                try await database.withConnection { connection in
                    try await connection.query("CREATE TABLE marks (n int)")
                    try await holder.query("SELECT pg_advisory_lock(42)")
                    // The statement ahead waits on the server for the lock the other session holds.
                    let ahead = Task { try await connection.query("SELECT pg_advisory_lock(42)") }
                    #expect(try await database.eventuallyWaitsOnALock(), "the statement ahead never started")
                    let queued = Task { try await connection.query("INSERT INTO marks VALUES (1)") }
                    queued.cancel()
                    let error = await #expect(throws: PostgresError.self) { _ = try await queued.value }
                    #expect(error?.code == .cancelled)
                    try await holder.query("SELECT pg_advisory_unlock(42)")
                    _ = try await ahead.value
                    try await connection.query("INSERT INTO marks VALUES (2)")
                    let marks = try await connection.query("SELECT n FROM marks").map {
                        try $0.decode(Int32.self, column: 0)
                    }
                    #expect(marks == [2])
                }
            }
        }
    }

    /// A transaction whose task is cancelled before its COMMIT is sent is rolled back, not left open on the
    /// session (the rollback runs whatever happens to the task).
    @Test func aTransactionCancelledBeforeItsCommitIsRolledBack() async throws {
        try await TestDatabase.withConnection { connection in
            try await connection.query("CREATE TABLE marks (n int)")
            let task = Task {
                try await connection.withTransaction { connection in
                    try await connection.query("INSERT INTO marks VALUES (1)")
                    withUnsafeCurrentTask { $0?.cancel() }
                }
            }
            let error = await #expect(throws: PostgresError.self) { try await task.value }
            #expect(error?.code == .cancelled)
            let open = try await connection.query("SELECT txid_current_if_assigned() IS NOT NULL").single()
            #expect(try open.decode(Bool.self, column: 0) == false)
            #expect(try await connection.query("SELECT n FROM marks").count == 0)
        }
    }

    @Test func serverThatIsDownFailsFast() async throws {
        // A loopback port with nothing listening: connection refused, no hang.
        let port = try FreePort.reserve()
        let error = await #expect(throws: PostgresError.self) {
            _ = try await PostgresConnection.connect(url: "postgres://nobody@127.0.0.1:\(port)/none")
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isConnectionLoss == true)
    }

    @Test func serverThatNeverAnswersTimesOut() async throws {
        // A socket that accepts connections but never speaks: libpq gives up after connect_timeout.
        let listener = try SilentListener()
        defer { listener.close() }
        let error = await #expect(throws: PostgresError.self) {
            _ = try await PostgresConnection.connect(
                .init(url: "postgres://nobody@127.0.0.1:\(listener.port)/none", connectTimeout: 2)
            )
        }
        #expect(error?.code == .connectionFailed)
        #expect(error.map { "\($0)".contains("timeout") } == true)
    }
}
