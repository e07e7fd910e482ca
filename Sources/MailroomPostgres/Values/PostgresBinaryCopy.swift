/// Rows in PostgreSQL's binary `COPY` format, for ``PostgresConnection/copyIn(_:data:)``: the signature and
/// header, then per row a field count and each field as a length and its binary value (the same encoding as a
/// binary parameter), then the trailer.
///
/// ```swift
/// var copy = PostgresBinaryCopy()
/// copy.startRow(fields: 2)
/// copy.append(id)
/// copy.append(body)
/// try await connection.copyIn("COPY t (id, body) FROM STDIN (FORMAT binary)", data: copy.finish())
/// ```
public struct PostgresBinaryCopy: Sendable {
    private var bytes: [UInt8] = []

    /// - Parameter capacity: bytes to reserve for the whole stream, if known.
    public init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity + 21)
        // PGCOPY\n\377\r\n\0
        bytes.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])
        bytes.appendBigEndian(Int32(0))  // flags: no OIDs
        bytes.appendBigEndian(Int32(0))  // header extension length
    }

    /// Starts a row of `fields` values; append exactly that many next, in the statement's column order.
    public mutating func startRow(fields: Int16) {
        bytes.appendBigEndian(fields)
    }

    /// Appends one field.
    public mutating func append<Value: PostgresEncodable>(_ value: Value) {
        bytes.appendLengthPrefixed(value)
    }

    /// Appends one field given as its binary value (e.g. a `bytea` straight from memory the caller owns).
    public mutating func append(bytes value: UnsafeRawBufferPointer) {
        bytes.appendBigEndian(Int32(value.count))
        bytes.append(contentsOf: value)
    }

    /// Appends a NULL field.
    public mutating func appendNull() {
        bytes.appendBigEndian(Int32(-1))
    }

    /// The whole stream, trailer included.
    public consuming func finish() -> [UInt8] {
        bytes.appendBigEndian(Int16(-1))
        return bytes
    }
}
