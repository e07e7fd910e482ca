/// A PostgreSQL type OID, for the types Mailroom sends and reads.
public struct PostgresDataType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    public static let bool = PostgresDataType(16)
    public static let bytea = PostgresDataType(17)
    public static let name = PostgresDataType(19)
    public static let int8 = PostgresDataType(20)
    public static let int2 = PostgresDataType(21)
    public static let int4 = PostgresDataType(23)
    public static let text = PostgresDataType(25)
    public static let oid = PostgresDataType(26)
    public static let float4 = PostgresDataType(700)
    public static let float8 = PostgresDataType(701)
    public static let bpchar = PostgresDataType(1042)
    public static let varchar = PostgresDataType(1043)
    public static let timestamp = PostgresDataType(1114)
    public static let timestamptz = PostgresDataType(1184)
    public static let uuid = PostgresDataType(2950)
    public static let byteaArray = PostgresDataType(1001)
    public static let int8Array = PostgresDataType(1016)
    public static let int4Array = PostgresDataType(1007)
    public static let textArray = PostgresDataType(1009)
    public static let timestamptzArray = PostgresDataType(1185)
    public static let uuidArray = PostgresDataType(2951)
    public static let boolArray = PostgresDataType(1000)

    public var description: String {
        switch self {
        case .bool: "bool"
        case .bytea: "bytea"
        case .name: "name"
        case .int8: "int8"
        case .int2: "int2"
        case .int4: "int4"
        case .text: "text"
        case .oid: "oid"
        case .float4: "float4"
        case .float8: "float8"
        case .bpchar: "bpchar"
        case .varchar: "varchar"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .uuid: "uuid"
        default: "oid \(rawValue)"
        }
    }

    /// The array type whose elements are this type, for the types that have one here.
    var arrayType: PostgresDataType? {
        switch self {
        case .bytea: .byteaArray
        case .int8: .int8Array
        case .int4: .int4Array
        case .text: .textArray
        case .timestamptz: .timestamptzArray
        case .uuid: .uuidArray
        case .bool: .boolArray
        default: nil
        }
    }
}
