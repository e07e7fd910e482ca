/// Why migrations could not be loaded or applied.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        /// The migrations folder is missing or unreadable.
        public static let unreadableDirectory = Code(rawValue: "unreadable_directory")
        /// A file name does not follow `NNNN_name.sql`, or two files share a number.
        public static let badFileName = Code(rawValue: "bad_file_name")
        /// A migration already applied to the database differs from the file now on disk.
        public static let checksumMismatch = Code(rawValue: "checksum_mismatch")
        /// The database has a migration this folder does not know (the code is older than the schema).
        public static let unknownAppliedMigration = Code(rawValue: "unknown_applied_migration")
        /// A migration's SQL failed; it was rolled back.
        public static let migrationFailed = Code(rawValue: "migration_failed")
        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "MigrationError.\(code): \(message)" }
}
