/// A SQL statement and its parameters.
///
/// Write queries as string literals; every interpolated value becomes a bound parameter (`$1`, `$2`, …), never
/// text spliced into the SQL:
///
/// ```swift
/// let rows = try await connection.query("SELECT id FROM inbox_messages WHERE owner = \(owner) LIMIT \(limit)")
/// ```
///
/// There is deliberately no initialiser from an arbitrary `String`: SQL built at run time from data cannot be
/// passed by accident. Identifiers that cannot be parameters (a database name in a test) go through
/// ``StringInterpolation/appendInterpolation(identifier:)``, which quotes them.
public struct PostgresQuery: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The SQL text with `$n` placeholders.
    public private(set) var sql: String
    /// The parameters, in placeholder order.
    public private(set) var binds: PostgresBindings
    /// Whether the statement is worth preparing once per connection and reusing. SQL with a spliced
    /// identifier differs from call to call, so it is run unnamed instead of filling the statement cache.
    var isReusable = true

    public init(stringLiteral value: String) {
        self.sql = value
        self.binds = PostgresBindings()
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
        self.isReusable = !stringInterpolation.hasIdentifiers
    }

    /// Builds a query from SQL text with explicit `$n` placeholders and their values.
    public init(sql: StaticString, binds: PostgresBindings) {
        self.sql = sql.description
        self.binds = binds
    }

    /// The SQL text and the parameter types; never the parameter values.
    public var description: String {
        "\(sql) [\(binds.types.map(\.description).joined(separator: ", "))]"
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var sql: String
        var binds: PostgresBindings
        var hasIdentifiers = false

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds = PostgresBindings(capacity: interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Binds a value as the next parameter.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            binds.append(value)
            sql += "$\(binds.count)"
        }

        /// Binds an optional value; `nil` is sent as NULL.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            binds.append(value)
            sql += "$\(binds.count)"
        }

        /// Splices a fragment of SQL text written in the source code — a table name chosen by a `switch`,
        /// say. Only a `StaticString` is accepted, so data can never reach the SQL this way; each distinct
        /// fragment is still a statement prepared once per connection.
        public mutating func appendInterpolation(sql fragment: StaticString) {
            sql += fragment.description
        }

        /// Splices a quoted SQL identifier (`"name"`, with embedded quotes doubled) for places where PostgreSQL
        /// takes no parameter, such as `CREATE DATABASE`.
        public mutating func appendInterpolation(identifier: String) {
            hasIdentifiers = true
            sql += "\"" + identifier.map { $0 == "\"" ? "\"\"" : String($0) }.joined() + "\""
        }
    }
}

/// The bound parameters of a ``PostgresQuery``, all in binary format.
public struct PostgresBindings: Sendable, Hashable {
    /// Each parameter's type.
    public private(set) var types: [PostgresDataType] = []
    /// Each parameter's binary value, `nil` for NULL.
    var values: [[UInt8]?] = []

    public init() {}

    public init(capacity: Int) {
        types.reserveCapacity(capacity)
        values.reserveCapacity(capacity)
    }

    /// The number of parameters.
    public var count: Int { types.count }

    /// Appends a parameter.
    public mutating func append<Value: PostgresEncodable>(_ value: Value) {
        var bytes: [UInt8] = []
        value.encode(into: &bytes)
        types.append(Value.postgresType)
        values.append(bytes)
    }

    /// Appends a parameter that may be NULL.
    public mutating func append<Value: PostgresEncodable>(_ value: Value?) {
        if let value {
            append(value)
        } else {
            types.append(Value.postgresType)
            values.append(nil)
        }
    }
}
