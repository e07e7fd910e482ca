/// How Mailroom checks Ed25519 signatures (``Envelope/verify(_:limits:)`` in the worker, rows read by the query
/// library): libsodium's `crypto_sign_verify_detached`, or, for a sender seen before, a table of multiples of the
/// sender's key that gives libsodium's verdict at about 40% of its cost (docs/ARCHITECTURE.md, "Signature checks").
///
/// Process-wide, like libsodium itself.
public enum SignatureChecks {
    /// The default ``precomputedKeyLimit``.
    public static let defaultPrecomputedKeyLimit = PrecomputedKeys.defaultLimit

    /// Bytes one precomputed key holds.
    public static let bytesPerPrecomputedKey = PrecomputedKey.tableBytes

    /// The most sender keys given a table; when all are taken, a new sender takes the place of one idle for
    /// 16 x limit checks, or gets none. 0 checks every signature with libsodium alone. Default 1024 (about 15 MiB
    /// at most); 0 in a debug build, where the tables' arithmetic is unoptimised and slower than libsodium.
    /// Lowering it drops every table.
    public static var precomputedKeyLimit: Int {
        get { PrecomputedKeys.shared.limit }
        set { PrecomputedKeys.shared.limit = max(0, newValue) }
    }

    /// What the checks have done since the process started.
    public struct Statistics: Sendable, Equatable {
        /// Checks answered from a precomputed table.
        public var fromTables: Int
        /// Checks made by libsodium (first signatures of a sender, keys without a table, S not below the group order).
        public var byLibsodium: Int
        /// Tables built.
        public var tablesBuilt: Int
        /// Whether tables were switched off because one disagreed with libsodium (never expected; every check then
        /// goes to libsodium).
        public var switchedOff: Bool
    }

    /// The counters so far.
    public static var statistics: Statistics {
        let s = PrecomputedKeys.shared.statistics
        return Statistics(
            fromTables: s.tableChecks,
            byLibsodium: s.sodiumChecks,
            tablesBuilt: s.tablesBuilt,
            switchedOff: s.switchedOff
        )
    }
}
