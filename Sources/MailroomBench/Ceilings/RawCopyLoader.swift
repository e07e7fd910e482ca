internal import CLibPQ
internal import Foundation
internal import MailroomPostgres

/// Bare libpq's bulk load, for `mailroom-bench pipeline`'s bare pipeline: plain statements and binary `COPY … FROM
/// STDIN` on one blocking connection, nothing else.
///
/// Blocking: used from one thread at a time, never from Swift's cooperative pool. (`@unchecked Sendable`: it
/// owns a libpq connection, handed between threads but used by one at a time.)
final class RawCopyLoader: @unchecked Sendable {
    private let conn: OpaquePointer

    /// Connects (blocking).
    init(url: String) throws {
        guard let conn = PQconnectdb(url), PQstatus(conn) == CONNECTION_OK else {
            throw PostgresError(.connectionFailed, message: "bench: cannot connect")
        }
        self.conn = conn
    }

    deinit { PQfinish(conn) }

    /// The server's processes (`pg_stat_activity`): backends, this one included, and background processes.
    func serverProcesses() throws -> [Int32] {
        let result = PQexec(conn, "SELECT pid FROM pg_stat_activity")
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK else { throw failure("statement") }
        return (0..<PQntuples(result)).compactMap { row in
            PQgetvalue(result, row, 0).flatMap { Int32(String(cString: $0)) }
        }
    }

    /// Runs `sql` (no parameters; one or more statements).
    func execute(_ sql: String) throws {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw failure("statement") }
    }

    /// Runs `copy` (a `COPY … FROM STDIN (FORMAT binary)`) with `payload` as its whole input.
    func copy(_ copy: String, payload: UnsafeRawBufferPointer) throws {
        let started = PQexec(conn, copy)
        let status = PQresultStatus(started)
        PQclear(started)
        guard status == PGRES_COPY_IN else { throw failure("copy") }
        let sent = payload.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
        guard sent == 1, PQputCopyEnd(conn, nil) == 1 else { throw failure("copy data") }
        var failed = false
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) != PGRES_COMMAND_OK { failed = true }
            PQclear(result)
        }
        if failed { throw failure("copy end") }
    }

    private func failure(_ what: String) -> PostgresError {
        // The first line only: DETAIL lines can quote row values.
        let message = String(cString: PQerrorMessage(conn)).split(separator: "\n").first.map(String.init) ?? ""
        return PostgresError(.server, message: "bench: \(what) failed: \(message)")
    }
}
