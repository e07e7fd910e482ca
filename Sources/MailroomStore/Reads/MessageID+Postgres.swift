public import MailroomCore
public import MailroomPostgres

/// Message ids travel as `uuid`: the ULID's 16 bytes, so uuid order is ULID order is time order.
extension MessageID: PostgresEncodable, PostgresDecodable {
    public static var postgresType: PostgresDataType { .uuid }

    public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: bytes) }

    public init(postgresBytes bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws(PostgresError) {
        guard type == .uuid, bytes.count == 16 else {
            throw PostgresError(.decoding, message: "cannot decode \(type) (\(bytes.count) bytes) as a message id")
        }
        // A typed buffer, so that MessageID takes its contiguous fast path.
        let typed = UnsafeBufferPointer(
            start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
            count: bytes.count
        )
        do {
            try self.init(bytes: typed)
        } catch {
            throw PostgresError(.decoding, message: "\(error)")
        }
    }
}
