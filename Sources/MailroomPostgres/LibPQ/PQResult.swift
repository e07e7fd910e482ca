internal import CLibPQ

/// Owns one `PGresult *` holding rows, and frees it (`PQclear`) when the last ``PostgresRows`` that reads it
/// goes away. Rows are decoded straight from libpq's memory: nothing is copied out first.
///
/// (`@unchecked Sendable`: a `PGresult` is immutable once made, and libpq allows reading one from any thread.)
@usableFromInline
final class PQResult: @unchecked Sendable {
    private let result: OpaquePointer
    @usableFromInline let rowCount: Int
    @usableFromInline let columnCount: Int

    /// Takes ownership of `result`.
    init(taking result: OpaquePointer) {
        self.result = result
        self.rowCount = Int(PQntuples(result))
        self.columnCount = Int(PQnfields(result))
    }

    deinit { PQclear(result) }

    /// The cell's bytes (valid while `self` lives), or `nil` for NULL. `row` and `column` must be in range.
    @usableFromInline
    func cell(row: Int, column: Int) -> UnsafeRawBufferPointer? {
        let row = Int32(truncatingIfNeeded: row)
        let column = Int32(truncatingIfNeeded: column)
        if PQgetisnull(result, row, column) != 0 { return nil }
        let length = Int(PQgetlength(result, row, column))
        guard let value = PQgetvalue(result, row, column) else { return nil }
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(value), count: length)
    }

    func columnNames() -> [String] {
        (0..<Int32(columnCount)).map { PQfname(result, $0).map { String(cString: $0) } ?? "" }
    }

    func columnTypes() -> [PostgresDataType] {
        (0..<Int32(columnCount)).map { PostgresDataType(UInt32(PQftype(result, $0))) }
    }
}
