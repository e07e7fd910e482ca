@_spi(Benchmarks) import MailroomCore
import MailroomEd25519

/// The three crypto workloads of `mailroom-bench crypto`, each as Mailroom does it and as bare libsodium does it.
struct CryptoBenchmarks: Sendable {
    enum Workload: String, CaseIterable, Sendable {
        case sealed, verified, opened

        var label: String {
            switch self {
            case .sealed: "envelopes sealed + signed"
            case .verified: "envelopes parsed + verified"
            case .opened: "bodies opened"
            }
        }

        var rawLabel: String {
            switch self {
            case .sealed: "2x(box_keypair+box_easy)+sign_detached"
            case .verified: "crypto_sign_verify_detached"
            case .opened: "crypto_box_open_easy"
            }
        }
    }

    /// Mailroom and raw rates for one workload and thread count.
    struct Figure {
        var mailroom: BenchHarness.Rate
        var raw: BenchHarness.Rate

        /// Mailroom throughput over raw throughput.
        var ratio: Double { raw.perSecond > 0 ? mailroom.perSecond / raw.perSecond : 0 }
        /// The same on CPU time: raw CPU cost per operation over Mailroom's.
        var cpuRatio: Double { raw.perCPUSecond > 0 ? mailroom.perCPUSecond / raw.perCPUSecond : 0 }
    }

    let bodyBytes: Int
    let identities: [Identity]
    let serialized: [[UInt8]]
    let envelopes: [Envelope]
    /// One verifier for every thread, as in a worker.
    let signatureVerifier = Ed25519Verifier()

    /// A fixed set of identities and pre-sealed envelopes, so that key caches are warm as in production.
    init(bodyBytes: Int, keyCount: Int = 16, envelopeCount: Int = 64) throws {
        self.bodyBytes = bodyBytes
        identities = (0..<keyCount).map { _ in Identity.generate() }
        let body = [UInt8](repeating: 0x61, count: bodyBytes)
        var envelopes: [Envelope] = []
        for index in 0..<envelopeCount {
            let sender = identities[index % keyCount]
            let recipient = identities[(index + 1) % keyCount]
            envelopes.append(try Envelope.seal(from: sender, to: recipient.publicKey, body: body))
        }
        self.envelopes = envelopes
        serialized = envelopes.map { $0.serialized() }
    }

    /// An operation for one thread: Mailroom's public API.
    func mailroomOperation(_ workload: Workload) -> () -> Void {
        let identities = identities
        let body = [UInt8](repeating: 0x61, count: bodyBytes)
        var index = 0
        switch workload {
        case .sealed:
            return {
                index &+= 1
                let sender = identities[index % identities.count]
                let recipient = identities[(index &+ 1) % identities.count].publicKey
                _ = try! Envelope.seal(from: sender, to: recipient, body: body)
            }
        case .verified:
            // As the worker checks them: a verifier with tables (the default configuration: none in a debug build).
            let serialized = serialized
            let verifier = signatureVerifier
            return {
                index &+= 1
                _ = try! Envelope.verify(serialized[index % serialized.count], using: verifier)
            }
        case .opened:
            let envelopes = envelopes
            let readers = envelopes.indices.map { identities[($0 + 1) % identities.count] }
            return {
                index &+= 1
                let slot = index % envelopes.count
                _ = try! envelopes[slot].open(with: readers[slot])
            }
        }
    }

    /// An operation for one thread: the bare libsodium calls for the same work.
    func rawOperation(_ workload: Workload) -> () -> Void {
        let raw = RawSodiumCeiling(bodyCount: bodyBytes)
        switch workload {
        case .sealed: return { raw.sealOnce() }
        case .verified: return { raw.verifyOnce() }
        case .opened: return { raw.openOnce() }
        }
    }

    /// Measures Mailroom and raw alternately in `rounds` slices, swapping which goes first each round, so that
    /// drift from other load on the machine hits both alike.
    func measure(_ workload: Workload, threads: Int, seconds: Double, rounds: Int) -> Figure {
        var mailroom = BenchHarness.Rate()
        var raw = BenchHarness.Rate()
        let slice = seconds / Double(rounds)
        for round in 0..<rounds {
            let measureRaw = {
                raw += BenchHarness.rate(threads: threads, seconds: slice) { self.rawOperation(workload) }
            }
            let measureMailroom = {
                mailroom += BenchHarness.rate(threads: threads, seconds: slice) { self.mailroomOperation(workload) }
            }
            if round.isMultiple(of: 2) {
                measureRaw()
                measureMailroom()
            } else {
                measureMailroom()
                measureRaw()
            }
        }
        return Figure(mailroom: mailroom / Double(rounds), raw: raw / Double(rounds))
    }
}
