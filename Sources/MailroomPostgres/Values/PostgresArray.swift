/// A one-dimensional PostgreSQL array parameter, e.g. for `INSERT … SELECT * FROM unnest($1::bytea[], …)`.
///
/// Elements may be NULL (`nil`). Sending a whole batch as a few array parameters is one round trip and one
/// statement, which is how the worker writes a batch.
public struct PostgresArray<Element: PostgresEncodable>: PostgresEncodable {
    public var elements: [Element?]

    public init(_ elements: [Element?]) { self.elements = elements }
    public init(_ elements: [Element]) { self.elements = elements.map { Optional($0) } }

    public static var postgresType: PostgresDataType {
        Element.postgresType.arrayType ?? PostgresDataType(0)
    }

    public func encode(into buffer: inout [UInt8]) {
        // One pass for the size, so that a batch's array (hundreds of kilobytes) is allocated once rather than
        // grown by doubling, which copied it several times over and touched fresh pages each time.
        var hasNulls = false
        var size = 20
        for element in elements {
            guard let element else {
                hasNulls = true
                size += 4
                continue
            }
            size += 4 + (element.encodedByteCount ?? 8)
        }
        buffer.reserveCapacity(buffer.count + size)
        // ndim, has-nulls flag, element oid, then (length, lower bound) per dimension.
        buffer.appendBigEndian(Int32(1))
        buffer.appendBigEndian(Int32(hasNulls ? 1 : 0))
        buffer.appendBigEndian(Element.postgresType.rawValue)
        buffer.appendBigEndian(Int32(elements.count))
        buffer.appendBigEndian(Int32(1))
        for element in elements {
            guard let element else {
                buffer.appendBigEndian(Int32(-1))
                continue
            }
            buffer.appendLengthPrefixed(element)
        }
    }
}
