/// A Swift value that can be sent to PostgreSQL as a binary-format parameter.
public protocol PostgresEncodable: Sendable {
    /// The PostgreSQL type this value is sent as.
    static var postgresType: PostgresDataType { get }
    /// Appends the value's binary wire form (without a length prefix).
    func encode(into buffer: inout [UInt8])
    /// The number of bytes ``encode(into:)`` appends, when known without encoding; lets an array parameter
    /// reserve its whole buffer once. Default `nil`.
    var encodedByteCount: Int? { get }
}

extension PostgresEncodable {
    public var encodedByteCount: Int? { nil }
}

/// A Swift value that can be read from a binary-format result column.
public protocol PostgresDecodable {
    /// Decodes the value from its binary wire form.
    /// - Parameters:
    ///   - bytes: the column's bytes (never NULL; NULL is handled by `Optional`).
    ///   - type: the column's PostgreSQL type.
    /// - Throws: ``PostgresError`` with code ``PostgresError/Code/decoding`` when the type or length does not fit.
    init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError)

    /// Decodes a column that may be NULL (`nil` bytes). The default rejects NULL; `Optional` maps it to `nil`.
    static func decodeColumn(_ bytes: UnsafeRawBufferPointer?, type: PostgresDataType) throws(PostgresError) -> Self
}

/// A value both sent and read.
public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

@usableFromInline
func decodingError<T>(_ swiftType: T.Type, _ type: PostgresDataType, length: Int) -> PostgresError {
    PostgresError(.decoding, message: "cannot decode \(type) (\(length) bytes) as \(swiftType)")
}

extension UnsafeRawBufferPointer {
    @inlinable
    func loadBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int = 0) -> T {
        T(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension Array where Element == UInt8 {
    @inlinable
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { self.append(contentsOf: $0) }
    }

    /// Appends `value`'s binary form after its 4-byte length, as array elements and `COPY` fields are sent:
    /// encoded in place, the length written in front of it afterwards.
    mutating func appendLengthPrefixed(_ value: some PostgresEncodable) {
        let lengthOffset = count
        appendBigEndian(Int32(0))
        value.encode(into: &self)
        let length = Int32(count - lengthOffset - 4)
        withUnsafeMutableBytes { $0.storeBytes(of: length.bigEndian, toByteOffset: lengthOffset, as: Int32.self) }
    }
}

extension PostgresDecodable {
    /// Rejects NULL for non-optional types.
    @inlinable
    public static func decodeColumn(
        _ bytes: UnsafeRawBufferPointer?,
        type: PostgresDataType
    ) throws(PostgresError) -> Self {
        guard let bytes else {
            throw PostgresError(.decoding, message: "unexpected NULL for \(Self.self)")
        }
        return try Self(postgresBytes: bytes, type: type)
    }
}

/// `Optional` columns decode NULL as `nil`.
extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        self = .some(try Wrapped(postgresBytes: bytes, type: type))
    }

    @inlinable
    public static func decodeColumn(
        _ bytes: UnsafeRawBufferPointer?,
        type: PostgresDataType
    ) throws(PostgresError) -> Self {
        guard let bytes else { return .none }
        return .some(try Wrapped(postgresBytes: bytes, type: type))
    }
}
