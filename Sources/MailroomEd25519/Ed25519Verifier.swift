public import Logging
internal import Synchronization

/// Checks Ed25519 signatures with libsodium's verdicts (`crypto_sign_verify_detached`, libsodium 1.0.18's rules),
/// answering most checks for a key seen before from a precomputed table of the key (``PrecomputedKey``, about 40%
/// of libsodium's cost), with libsodium as a safety net (docs/ARCHITECTURE.md, "Signature checks").
///
/// Each instance has its own ``Configuration``, fixed at creation, its own tables (up to
/// ``Configuration/precomputedKeyLimit`` keys), its own ``Statistics`` and its own logger: nothing is process-wide.
/// A worker makes one from its settings and passes it to every check; ``libsodiumOnly`` is the immutable default
/// for everyone else.
///
/// The safety net:
/// - a table refusal is never the answer: libsodium checks the signature again and decides. Refusals are rare in
///   production (forgeries, damaged rows), so this costs nothing on valid mail;
/// - a random sample of table acceptances (``Configuration/recheckSampleRate``, default 1 in 1,000) is checked
///   again by libsodium, whose verdict is the answer;
/// - a new table must confirm the signature libsodium just accepted before it is used;
/// - a self-test, when an instance is created with tables on: known-good and known-bad signatures (RFC 8032 and
///   crafted edge cases) through a fresh table and through libsodium;
/// - any disagreement (a refusal libsodium accepts, a sampled acceptance libsodium refuses, a new table that does
///   not confirm, a failed self-test) switches this instance's tables off for good: it is counted in
///   ``Statistics/disagreements``, logged once at critical level, and every later check is libsodium's.
///
/// Thread-safe: one instance serves every thread (the tables are shared behind a lock, counters are atomics).
/// Variable time: only public data (keys, signatures, messages) passes through the tables.
public final class Ed25519Verifier: Sendable {
    /// How an instance checks signatures; fixed at creation.
    public struct Configuration: Sendable, Equatable {
        /// The default ``precomputedKeyLimit``: 1024 keys (15 MiB of tables at most) in an optimised build, 0 in
        /// a debug build, where the tables' Swift arithmetic runs unoptimised, about 45 times slower than
        /// libsodium's C (tests that exercise tables ask for them).
        #if DEBUG
        public static let defaultPrecomputedKeyLimit = 0
        #else
        public static let defaultPrecomputedKeyLimit = 1024
        #endif

        /// The default ``recheckSampleRate``: 1 table acceptance in 1,000.
        public static let defaultRecheckSampleRate = 0.001

        /// Bytes one precomputed key holds (15 KiB).
        public static let bytesPerPrecomputedKey = PrecomputedKey.tableBytes

        /// The most keys given a table; when all are taken, a new key takes the place of one idle for
        /// 16 x limit checks, or gets none. 0: libsodium alone (no tables, no self-test). Negative counts as 0.
        public var precomputedKeyLimit: Int

        /// The share of table acceptances checked again by libsodium, chosen at random: 0 never, 1 every one
        /// (then tables save nothing on valid signatures). Clamped to 0...1; NaN counts as the default. Table
        /// refusals are always checked again, whatever this says.
        public var recheckSampleRate: Double

        public init(
            precomputedKeyLimit: Int = Configuration.defaultPrecomputedKeyLimit,
            recheckSampleRate: Double = Configuration.defaultRecheckSampleRate
        ) {
            self.precomputedKeyLimit = precomputedKeyLimit
            self.recheckSampleRate = recheckSampleRate
        }

        /// No tables: every check is libsodium's.
        public static let libsodiumOnly = Configuration(precomputedKeyLimit: 0)
    }

    /// What an instance's checks have done since it was created.
    public struct Statistics: Sendable, Equatable {
        /// Checks answered by a table's acceptance (sampled re-checks that confirmed it included).
        public var fromTables = 0
        /// Checks answered by libsodium: keys without a table, S not below the group order, every table refusal
        /// (re-checked), and disagreements.
        public var byLibsodium = 0
        /// Tables built.
        public var tablesBuilt = 0
        /// Table acceptances checked again by libsodium (the sample).
        public var acceptancesRechecked = 0
        /// Table refusals checked again by libsodium (all of them; also counted in ``byLibsodium``).
        public var refusalsRechecked = 0
        /// Times the tables and libsodium disagreed, the self-test included. Never expected; the first one
        /// switches the tables off.
        public var disagreements = 0
        /// Whether tables were switched off by a disagreement (every check then goes to libsodium).
        public var switchedOff = false

        public init() {}
    }

    /// The libsodium-only verifier with the default everything: what a check uses when it is given no verifier.
    /// Immutable; its statistics count every check made through it in the process.
    public static let libsodiumOnly = Ed25519Verifier(configuration: .libsodiumOnly)

    /// The configuration, as given (limit and rate as used: clamped).
    public let configuration: Configuration

    private let keys: PrecomputedKeys?
    private let logger: Logger
    /// Which table acceptances are re-checked: a sample when a mixed counter falls below this (out of 2^64).
    private let recheckThreshold: UInt64
    private let recheckAll: Bool
    /// A SplitMix64 sequence from a random start: unpredictable from outside, one relaxed atomic add per draw.
    private let sampleState: Atomic<UInt64>
    /// Tests only: replaces every table verdict, to make a table lie.
    private let tableVerdictOverride: (@Sendable (Bool?) -> Bool?)?

    private let tableChecks = Atomic<Int>(0)
    private let sodiumChecks = Atomic<Int>(0)
    private let built = Atomic<Int>(0)
    private let acceptanceRechecks = Atomic<Int>(0)
    private let refusalRechecks = Atomic<Int>(0)
    private let disagreementCount = Atomic<Int>(0)
    /// Checks so far, both kinds: the clock that tables' idleness is measured on.
    private let clock = Atomic<Int>(0)

    /// A verifier with its own tables. With tables on (``Configuration/precomputedKeyLimit`` above 0) it runs
    /// the self-test first (about a dozen checks and two table builds; a few milliseconds in a debug build);
    /// if that fails, tables are off from the start, logged at critical level.
    public convenience init(
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "mailroom.ed25519")
    ) {
        self.init(configuration: configuration, logger: logger, tableVerdictOverride: nil)
    }

    init(
        configuration: Configuration,
        logger: Logger,
        tableVerdictOverride: (@Sendable (Bool?) -> Bool?)?
    ) {
        Libsodium.ensureInitialized()
        var configuration = configuration
        configuration.precomputedKeyLimit = max(0, configuration.precomputedKeyLimit)
        let rate = configuration.recheckSampleRate
        configuration.recheckSampleRate =
            rate.isNaN ? Configuration.defaultRecheckSampleRate : min(1, max(0, rate))
        self.configuration = configuration
        self.logger = logger
        self.tableVerdictOverride = tableVerdictOverride
        let scaled = configuration.recheckSampleRate * 0x1p64
        recheckAll = scaled >= 0x1p64
        recheckThreshold = recheckAll ? .max : UInt64(scaled)
        var system = SystemRandomNumberGenerator()
        sampleState = Atomic(system.next())
        keys = configuration.precomputedKeyLimit > 0 ? PrecomputedKeys(limit: configuration.precomputedKeyLimit) : nil
        guard let keys else { return }
        if let failure = SelfTest.run(tableVerdict: tableVerdict) {
            disagreementCount.add(1, ordering: .relaxed)
            _ = keys.switchOff()
            logger.critical(
                "Ed25519 table self-test failed; this verifier checks every signature with libsodium alone",
                metadata: ["case": "\(failure)"]
            )
            return
        }
        logger.info(
            "Ed25519 signature tables on",
            metadata: [
                "precomputed_keys": "\(configuration.precomputedKeyLimit)",
                "recheck_sample_rate": "\(configuration.recheckSampleRate)",
            ]
        )
    }

    /// The counters so far.
    public var statistics: Statistics {
        var s = Statistics()
        s.fromTables = tableChecks.load(ordering: .relaxed)
        s.byLibsodium = sodiumChecks.load(ordering: .relaxed)
        s.tablesBuilt = built.load(ordering: .relaxed)
        s.acceptancesRechecked = acceptanceRechecks.load(ordering: .relaxed)
        s.refusalsRechecked = refusalRechecks.load(ordering: .relaxed)
        s.disagreements = disagreementCount.load(ordering: .relaxed)
        s.switchedOff = keys?.isSwitchedOff ?? false
        return s
    }

    /// Whether the detached signature over `message` verifies with the key, exactly as libsodium's
    /// `crypto_sign_verify_detached` answers.
    ///
    /// - Parameters:
    ///   - signature: 64 bytes, R ‖ S.
    ///   - publicKey: 32 bytes.
    public func verify(
        signature: UnsafeRawBufferPointer,
        message: UnsafeRawBufferPointer,
        publicKey: UnsafeRawBufferPointer
    ) -> Bool {
        precondition(signature.count == 64 && publicKey.count == 32, "a signature is 64 bytes, a key 32")
        return verify(signature: signature.baseAddress!, message: message, publicKey: publicKey.baseAddress!)
    }

    /// The same for arrays; false when the signature is not 64 bytes or the key not 32.
    public func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return signature.withUnsafeBytes { signature in
            message.withUnsafeBytes { message in
                publicKey.withUnsafeBytes { verify(signature: signature, message: message, publicKey: $0) }
            }
        }
    }

    /// The check itself: `signature` 64 bytes, `publicKey` 32 bytes.
    func verify(signature: UnsafeRawPointer, message: UnsafeRawBufferPointer, publicKey: UnsafeRawPointer) -> Bool {
        guard let keys else {
            sodiumChecks.add(1, ordering: .relaxed)
            return Libsodium.verify(signature: signature, message: message, publicKey: publicKey)
        }
        let key = Encoded32(copying: publicKey)
        let now = clock.add(1, ordering: .relaxed).newValue
        if let table = keys.table(for: key) {
            switch tableVerdict(table, signature, message) {
            case true?:
                table.lastUsed.store(now, ordering: .relaxed)
                guard isSampled() else {
                    tableChecks.add(1, ordering: .relaxed)
                    return true
                }
                acceptanceRechecks.add(1, ordering: .relaxed)
                guard Libsodium.verify(signature: signature, message: message, publicKey: publicKey) else {
                    sodiumChecks.add(1, ordering: .relaxed)
                    disagreed("a sampled table acceptance that libsodium refuses")
                    return false
                }
                tableChecks.add(1, ordering: .relaxed)
                return true
            case false?:
                table.lastUsed.store(now, ordering: .relaxed)
                refusalRechecks.add(1, ordering: .relaxed)
                sodiumChecks.add(1, ordering: .relaxed)
                let verifies = Libsodium.verify(signature: signature, message: message, publicKey: publicKey)
                if verifies { disagreed("a table refusal that libsodium accepts") }
                return verifies
            case nil:
                break  // S not below L: libsodium's to decide.
            }
        }
        sodiumChecks.add(1, ordering: .relaxed)
        let verifies = Libsodium.verify(signature: signature, message: message, publicKey: publicKey)
        if verifies && keys.wantsTable(key, now: now) {
            addTable(for: key, confirming: signature, message: message, now: now, into: keys)
        }
        return verifies
    }

    /// A table's verdict (through the tests' override, if any).
    private func tableVerdict(
        _ table: PrecomputedKey,
        _ signature: UnsafeRawPointer,
        _ message: UnsafeRawBufferPointer
    ) -> Bool? {
        let verdict = table.check(signature: signature, message: message)
        guard let tableVerdictOverride else { return verdict }
        return tableVerdictOverride(verdict)
    }

    /// Whether this table acceptance is one of the sample libsodium re-checks.
    @inline(__always) func isSampled() -> Bool {
        if recheckAll { return true }
        guard recheckThreshold > 0 else { return false }
        var z = sampleState.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31) < recheckThreshold
    }

    /// Builds a table for a key libsodium just accepted a signature by; it must confirm that signature.
    private func addTable(
        for key: Encoded32,
        confirming signature: UnsafeRawPointer,
        message: UnsafeRawBufferPointer,
        now: Int,
        into keys: PrecomputedKeys
    ) {
        // A key libsodium accepted decodes, and its table accepts the signature (S is below L, or libsodium would
        // have refused it): anything else is a disagreement.
        guard let table = PrecomputedKey(uncheckedKey: key, now: now) else {
            disagreed("a key libsodium accepted that does not decode")
            return
        }
        guard tableVerdict(table, signature, message) == true else {
            disagreed("a new table that does not confirm the signature libsodium accepted")
            return
        }
        built.add(1, ordering: .relaxed)
        keys.insert(table, now: now)
    }

    /// Counts a disagreement and switches the tables off; the first one is logged.
    private func disagreed(_ what: String) {
        disagreementCount.add(1, ordering: .relaxed)
        guard keys?.switchOff() == true else { return }
        logger.critical(
            "Ed25519 table disagreed with libsodium; this verifier checks every signature with libsodium alone from now on",
            metadata: ["disagreement": "\(what)"]
        )
    }
}
