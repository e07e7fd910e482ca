/// The rows a statement returned, copied out of libpq into Swift memory (binary format).
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// Column names, in order.
    public let columnNames: [String]
    /// Column types, in order.
    public let columnTypes: [PostgresDataType]
    /// The number of rows a command affected (`UPDATE`, `DELETE`, `INSERT`), or the row count for `SELECT`.
    public let affectedRows: Int

    let rowCount: Int
    /// All cell bytes, back to back.
    @usableFromInline let storage: [UInt8]
    /// Per cell (row-major): start offset in ``storage`` and length (-1 for NULL).
    @usableFromInline let offsets: [Int32]
    @usableFromInline let lengths: [Int32]

    init(
        columnNames: [String], columnTypes: [PostgresDataType], affectedRows: Int, rowCount: Int,
        storage: [UInt8], offsets: [Int32], lengths: [Int32]
    ) {
        self.columnNames = columnNames
        self.columnTypes = columnTypes
        self.affectedRows = affectedRows
        self.rowCount = rowCount
        self.storage = storage
        self.offsets = offsets
        self.lengths = lengths
    }

    static let empty = PostgresRows(
        columnNames: [], columnTypes: [], affectedRows: 0, rowCount: 0, storage: [], offsets: [], lengths: [])

    public var startIndex: Int { 0 }
    public var endIndex: Int { rowCount }
    public subscript(position: Int) -> PostgresRow { PostgresRow(rows: self, index: position) }

    /// The index of the column named `name`, if any.
    public func columnIndex(named name: String) -> Int? { columnNames.firstIndex(of: name) }

    // Inlinable (with ``PostgresRow/decode(_:column:)``) so that callers' decoding is specialised for the
    // concrete column types: unspecialised generic decoding was a large share of a page read's CPU.
    @inlinable
    func withCell<R>(
        row: Int, column: Int, _ body: (UnsafeRawBufferPointer?) throws(PostgresError) -> R
    ) throws(PostgresError) -> R {
        guard column >= 0, column < columnTypes.count else {
            throw PostgresError(.decoding, message: "column \(column) out of range (\(columnTypes.count) columns)")
        }
        let cell = row * columnTypes.count + column
        let length = Int(lengths[cell])
        if length < 0 { return try body(nil) }
        let offset = Int(offsets[cell])
        do {
            return try storage.withUnsafeBytes { raw in
                try body(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]))
            }
        } catch let error as PostgresError {
            throw error
        } catch {
            throw PostgresError(.decoding, message: "\(error)")
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
    public func decode<each T: PostgresDecodable>(_ types: repeat (each T).Type) throws(PostgresError) -> (repeat each T) {
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
