/// The rows a statement returned (binary format), read in place from libpq's result: nothing is copied until a
/// column is decoded. The result is freed when the last copy of this value (and of its rows) goes away.
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// Column names, in order (read from the result on each call: for error messages and look-ups by name).
    public var columnNames: [String] { result?.columnNames() ?? [] }
    /// Column types, in order.
    public let columnTypes: [PostgresDataType]
    /// The number of rows a command affected (`UPDATE`, `DELETE`, `INSERT`), or the row count for `SELECT`.
    public let affectedRows: Int

    @usableFromInline let rowCount: Int
    /// libpq's result, `nil` for a command without rows.
    @usableFromInline let result: PQResult?

    init(affectedRows: Int) {
        self.columnTypes = []
        self.affectedRows = affectedRows
        self.rowCount = 0
        self.result = nil
    }

    init(result: PQResult) {
        self.columnTypes = result.columnTypes()
        self.affectedRows = result.rowCount
        self.rowCount = result.rowCount
        self.result = result
    }

    static let empty = PostgresRows(affectedRows: 0)

    public var startIndex: Int { 0 }
    public var endIndex: Int { rowCount }
    public subscript(position: Int) -> PostgresRow { PostgresRow(rows: self, index: position) }

    /// The index of the column named `name`, if any.
    public func columnIndex(named name: String) -> Int? { columnNames.firstIndex(of: name) }

    // Inlinable (with ``PostgresRow/decode(_:column:)``) so that callers' decoding is specialised for the
    // concrete column types: unspecialised generic decoding was a large share of a page read's CPU.
    @inlinable
    func withCell<R>(
        row: Int,
        column: Int,
        _ body: (UnsafeRawBufferPointer?) throws(PostgresError) -> R
    ) throws(PostgresError) -> R {
        guard column >= 0, column < columnTypes.count, row >= 0, row < rowCount, let result else {
            throw PostgresError(
                .decoding,
                message: "cell (\(row), \(column)) out of range (\(rowCount) rows, \(columnTypes.count) columns)"
            )
        }
        // `result` outlives the call: `self` holds it.
        return try withExtendedLifetime(result) { () throws(PostgresError) -> R in
            try body(result.cell(row: row, column: column))
        }
    }
}

/// One row of ``PostgresRows``.
public struct PostgresRow: Sendable {
    @usableFromInline let rows: PostgresRows
    @usableFromInline let index: Int

    /// Decodes column `column` (0-based) as `T`. Use an `Optional` type for a column that may be NULL.
    @inlinable
    public func decode<T: PostgresDecodable>(_: T.Type = T.self, column: Int) throws(PostgresError) -> T {
        let type = column < rows.columnTypes.count ? rows.columnTypes[column] : PostgresDataType(0)
        return try rows.withCell(row: index, column: column) { bytes throws(PostgresError) in
            try T.decodeColumn(bytes, type: type)
        }
    }

    /// Decodes the column named `name` as `T`.
    public func decode<T: PostgresDecodable>(_: T.Type = T.self, named name: String) throws(PostgresError) -> T {
        guard let column = rows.columnIndex(named: name) else {
            throw PostgresError(.decoding, message: "no column named \(name)")
        }
        return try decode(T.self, column: column)
    }

    /// Decodes the leading columns as a tuple: `let (id, sent) = try row.decode(UUID.self, Date.self)`.
    public func decode<each T: PostgresDecodable>(
        _ types: repeat (each T).Type
    ) throws(PostgresError) -> (repeat each T) {
        var column = 0
        func next<U: PostgresDecodable>(_: U.Type) throws(PostgresError) -> U {
            defer { column += 1 }
            return try decode(U.self, column: column)
        }
        return (repeat try next((each T).self))
    }
}

extension PostgresRows {
    /// The single row of a result, or an error if there is not exactly one.
    public func single(file: String = #fileID, line: Int = #line) throws(PostgresError) -> PostgresRow {
        guard count == 1 else {
            throw PostgresError(.unexpectedResult, message: "expected one row, got \(count)", file: file, line: line)
        }
        return self[0]
    }
}
