public import Foundation

// Binary wire forms of the standard types, as PostgreSQL's send/recv functions define them.

extension Int64: PostgresCodable {
    public static var postgresType: PostgresDataType { .int8 }
    public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self) }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        switch (type, bytes.count) {
        case (.int8, 8): self = bytes.loadBigEndian(Int64.self)
        case (.int4, 4): self = Int64(bytes.loadBigEndian(Int32.self))
        case (.int2, 2): self = Int64(bytes.loadBigEndian(Int16.self))
        case (.oid, 4): self = Int64(bytes.loadBigEndian(UInt32.self))
        default: throw decodingError(Int64.self, type, length: bytes.count)
        }
    }
}

extension Int: PostgresCodable {
    public static var postgresType: PostgresDataType { .int8 }
    public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(Int64(self)) }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        self = Int(try Int64(postgresBytes: bytes, type: type))
    }
}

extension Int32: PostgresCodable {
    public static var postgresType: PostgresDataType { .int4 }
    public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self) }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        switch (type, bytes.count) {
        case (.int4, 4): self = bytes.loadBigEndian(Int32.self)
        case (.int2, 2): self = Int32(bytes.loadBigEndian(Int16.self))
        default: throw decodingError(Int32.self, type, length: bytes.count)
        }
    }
}

extension Int16: PostgresCodable {
    public static var postgresType: PostgresDataType { .int2 }
    public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(self) }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        guard type == .int2, bytes.count == 2 else { throw decodingError(Int16.self, type, length: bytes.count) }
        self = bytes.loadBigEndian(Int16.self)
    }
}

extension Double: PostgresCodable {
    public static var postgresType: PostgresDataType { .float8 }
    public func encode(into buffer: inout [UInt8]) { buffer.appendBigEndian(bitPattern) }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        switch (type, bytes.count) {
        case (.float8, 8): self = Double(bitPattern: bytes.loadBigEndian(UInt64.self))
        case (.float4, 4): self = Double(Float(bitPattern: bytes.loadBigEndian(UInt32.self)))
        case (.int8, 8), (.int4, 4), (.int2, 2): self = Double(try Int64(postgresBytes: bytes, type: type))
        default: throw decodingError(Double.self, type, length: bytes.count)
        }
    }
}

extension Bool: PostgresCodable {
    public static var postgresType: PostgresDataType { .bool }
    public func encode(into buffer: inout [UInt8]) { buffer.append(self ? 1 : 0) }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        guard type == .bool, bytes.count == 1 else { throw decodingError(Bool.self, type, length: bytes.count) }
        self = bytes[0] != 0
    }
}

extension String: PostgresCodable {
    public static var postgresType: PostgresDataType { .text }
    public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        switch type {
        case .text, .varchar, .name, .bpchar, PostgresDataType(705):  // 705: unknown
            self = String(decoding: bytes, as: UTF8.self)
        case .uuid where bytes.count == 16:
            self = (try UUID(postgresBytes: bytes, type: type)).uuidString.lowercased()
        default:
            throw decodingError(String.self, type, length: bytes.count)
        }
    }
}

/// Raw bytes travel as `bytea`.
extension Array: PostgresEncodable where Element == UInt8 {
    public static var postgresType: PostgresDataType { .bytea }
    public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
    public var encodedByteCount: Int? { count }
}

extension Array: PostgresDecodable where Element == UInt8 {
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        guard type == .bytea else { throw decodingError([UInt8].self, type, length: bytes.count) }
        // One memcpy. (`Array(unsafeUninitializedCapacity:)` went through the unspecialised array allocator,
        // which looks the storage type's metadata up on every call: a visible share of a page read's CPU.)
        self = Array(bytes)
    }
}

extension UUID: PostgresCodable {
    public static var postgresType: PostgresDataType { .uuid }
    public func encode(into buffer: inout [UInt8]) { withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) } }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        guard type == .uuid, bytes.count == 16 else { throw decodingError(UUID.self, type, length: bytes.count) }
        var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: bytes) }
        self = UUID(uuid: raw)
    }
}

/// `timestamptz` is microseconds since 2000-01-01 00:00:00 UTC on the wire.
extension Date: PostgresCodable {
    static let postgresEpochOffset: TimeInterval = 946_684_800

    public static var postgresType: PostgresDataType { .timestamptz }
    public func encode(into buffer: inout [UInt8]) {
        let micros = ((timeIntervalSince1970 - Date.postgresEpochOffset) * 1_000_000).rounded()
        buffer.appendBigEndian(Int64(micros))
    }
    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        guard type == .timestamptz || type == .timestamp, bytes.count == 8 else {
            throw decodingError(Date.self, type, length: bytes.count)
        }
        let micros = bytes.loadBigEndian(Int64.self)
        self = Date(timeIntervalSince1970: Double(micros) / 1_000_000 + Date.postgresEpochOffset)
    }
}
