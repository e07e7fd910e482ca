internal import CLibPQ
internal import Foundation
internal import MailroomPostgres

/// Bare libpq, for `mailroom-bench query` to measure as the ceiling of a page read: one prepared statement run
/// with `PQexecPrepared` (binary parameters and results), every cell touched, the result cleared.
///
/// Blocking; one instance per
/// thread, used only from that thread.
final class RawLibPQCeiling {
    private let conn: OpaquePointer

    /// Connects (blocking) and prepares `sql`, whose parameters are a `bytea` and an `int8`.
    init(url: String, sql: String) throws {
        guard let conn = PQconnectdb(url), PQstatus(conn) == CONNECTION_OK else {
            throw PostgresError(.connectionFailed, message: "bench: cannot connect")
        }
        self.conn = conn
        let types: [Oid] = [17, 20]
        let prepared = PQprepare(conn, "bench_page", sql, 2, types)
        defer { PQclear(prepared) }
        guard PQresultStatus(prepared) == PGRES_COMMAND_OK else {
            throw PostgresError(.server, message: "bench: prepare failed")
        }
    }

    deinit { PQfinish(conn) }

    /// Runs the statement once for `owner` and `limit`; returns the number of rows (and the bytes touched).
    func run(owner: [UInt8], limit: Int64) -> (rows: Int, bytes: Int) {
        var limitBytes = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: limit.bigEndian) { limitBytes = Array($0) }
        let lengths: [Int32] = [Int32(owner.count), 8]
        let formats: [Int32] = [1, 1]
        let result = owner.withUnsafeBufferPointer { ownerBuffer in
            limitBytes.withUnsafeBufferPointer { limitBuffer in
                let values: [UnsafePointer<CChar>?] = [
                    UnsafeRawPointer(ownerBuffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                    UnsafeRawPointer(limitBuffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                ]
                return PQexecPrepared(conn, "bench_page", 2, values, lengths, formats, 1)
            }
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK else { return (0, 0) }
        let rows = Int(PQntuples(result))
        let columns = PQnfields(result)
        var bytes = 0
        for row in 0..<Int32(rows) {
            for column in 0..<columns where PQgetisnull(result, row, column) == 0 {
                let length = Int(PQgetlength(result, row, column))
                if length > 0, let value = PQgetvalue(result, row, column) {
                    bytes &+= Int(UInt8(bitPattern: value[length - 1]))
                }
                bytes &+= length
            }
        }
        return (rows, bytes)
    }
}
