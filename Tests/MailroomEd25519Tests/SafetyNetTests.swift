import Foundation
import Synchronization
import Testing

@testable import MailroomEd25519

/// The safety net around the tables: refusals and a sample of acceptances re-checked by libsodium, the self-test,
/// and what a disagreement does.
@Suite("Ed25519Verifier's safety net")
struct SafetyNetTests {
    static let messages = (0..<12).map { Array("message \($0)".utf8) }

    /// Signs and checks `count` messages; true if every one verified.
    static func run(_ verifier: Ed25519Verifier, _ signer: Signer, count: Int, from start: Int = 0) -> Bool {
        (start..<start + count).allSatisfy { index in
            let message = messages[index % messages.count]
            return verifier.verify(signer, signer.sign(message), message)
        }
    }

    @Test("A table that lies is caught: tables go off, the disagreement is counted, and libsodium answers after")
    func forcedDisagreement() {
        // The table refuses every signature once `lie` is set (after the self-test and the first table).
        let lie = Atomic<Bool>(false)
        let verifier = tableVerifier(override: { verdict in lie.load(ordering: .relaxed) ? false : verdict })
        let signer = Signer(seed: [UInt8](repeating: 11, count: 32))
        #expect(Self.run(verifier, signer, count: 4))
        #expect(verifier.statistics.tablesBuilt == 1)
        #expect(verifier.statistics.fromTables == 2)
        #expect(verifier.statistics.disagreements == 0)

        lie.store(true, ordering: .relaxed)
        // The lie is re-checked by libsodium, whose verdict (valid) is the answer.
        #expect(Self.run(verifier, signer, count: 1, from: 4))
        var statistics = verifier.statistics
        #expect(statistics.disagreements == 1)
        #expect(statistics.switchedOff)
        #expect(statistics.refusalsRechecked == 1)

        // From now on every check is libsodium's: no table answers, none is built, nothing more to disagree on.
        let before = statistics
        #expect(Self.run(verifier, signer, count: 6, from: 5))
        var forged = signer.sign(Self.messages[0])
        forged[40] ^= 1
        #expect(!verifier.verify(signer, forged, Self.messages[0]))
        statistics = verifier.statistics
        #expect(statistics.fromTables == before.fromTables)
        #expect(statistics.byLibsodium == before.byLibsodium + 7)
        #expect(statistics.tablesBuilt == before.tablesBuilt)
        #expect(statistics.disagreements == 1)
    }

    @Test("A sampled acceptance that libsodium refuses: libsodium's refusal is the answer, and tables go off")
    func sampledAcceptanceDisagrees() {
        let lie = Atomic<Bool>(false)
        let verifier = tableVerifier(
            recheckSampleRate: 1,
            override: { verdict in lie.load(ordering: .relaxed) ? true : verdict }
        )
        let signer = Signer(seed: [UInt8](repeating: 12, count: 32))
        #expect(Self.run(verifier, signer, count: 3))
        #expect(verifier.statistics.tablesBuilt == 1)
        lie.store(true, ordering: .relaxed)
        var forged = signer.sign(Self.messages[3])
        forged[40] ^= 1
        #expect(!verifier.verify(signer, forged, Self.messages[3]))
        #expect(verifier.statistics.disagreements == 1)
        #expect(verifier.statistics.switchedOff)
    }

    @Test("A new table that does not confirm libsodium's acceptance switches tables off")
    func newTableMustConfirm() {
        // Lies from the second table check on: the self-test's checks pass, then the first real table refuses.
        let checks = Atomic<Int>(0)
        let selfTestChecks = Atomic<Int>(-1)
        let verifier = tableVerifier(override: { verdict in
            let count = checks.add(1, ordering: .relaxed).newValue
            let limit = selfTestChecks.load(ordering: .relaxed)
            return limit >= 0 && count > limit ? false : verdict
        })
        selfTestChecks.store(checks.load(ordering: .relaxed), ordering: .relaxed)
        let signer = Signer(seed: [UInt8](repeating: 13, count: 32))
        #expect(Self.run(verifier, signer, count: 4))
        #expect(verifier.statistics.tablesBuilt == 0)
        #expect(verifier.statistics.disagreements == 1)
        #expect(verifier.statistics.switchedOff)
        #expect(verifier.statistics.fromTables == 0)
    }

    @Test("The startup self-test: passes with honest tables, and a lying table fails it, so tables start off")
    func selfTest() {
        #expect(SelfTest.run(tableVerdict: { $0.check(signature: $1, message: $2) }) == nil)
        // A table that accepts everything fails at the first damaged case; one that declines everything too.
        #expect(SelfTest.run(tableVerdict: { _, _, _ in true }) != nil)
        #expect(SelfTest.run(tableVerdict: { _, _, _ in nil }) != nil)

        let verifier = tableVerifier(override: { _ in true })
        #expect(verifier.statistics.switchedOff)
        #expect(verifier.statistics.disagreements == 1)
        let signer = Signer(seed: [UInt8](repeating: 14, count: 32))
        #expect(Self.run(verifier, signer, count: 4))
        var forged = signer.sign(Self.messages[0])
        forged[40] ^= 1
        #expect(!verifier.verify(signer, forged, Self.messages[0]))
        #expect(verifier.statistics.tablesBuilt == 0)
        #expect(verifier.statistics.fromTables == 0)
    }

    @Test("The recheck rate is honoured: 1 re-checks every acceptance, 0 none, 1/1000 about one in a thousand")
    func recheckRate() {
        let signer = Signer(seed: [UInt8](repeating: 15, count: 32))
        let every = tableVerifier(recheckSampleRate: 1)
        #expect(Self.run(every, signer, count: 12))
        #expect(every.statistics.fromTables == 10)
        #expect(every.statistics.acceptancesRechecked == 10)

        let never = tableVerifier(recheckSampleRate: 0)
        #expect(Self.run(never, signer, count: 12))
        #expect(never.statistics.fromTables == 10)
        #expect(never.statistics.acceptancesRechecked == 0)

        // The sampling itself, without the cost of checks: a table that accepts without looking.
        let sampled = tableVerifier(recheckSampleRate: 0.001)
        #expect(sampled.configuration.recheckSampleRate == 0.001)
        #expect(Self.run(sampled, signer, count: 2))
        let draws = 200_000
        var rechecked = 0
        for _ in 0..<draws where sampled.isSampled() { rechecked += 1 }
        // 200 expected; far outside 100...300 is a broken sampler (p < 1e-10 by chance).
        #expect((100...300).contains(rechecked), "\(rechecked) of \(draws) sampled")
    }

    @Test("Configuration: defaults, clamping, and the libsodium-only verifier")
    func configuration() {
        let defaults = Ed25519Verifier.Configuration()
        #if DEBUG
        #expect(defaults.precomputedKeyLimit == 0)
        #else
        #expect(defaults.precomputedKeyLimit == 1024)
        #endif
        #expect(defaults.recheckSampleRate == 0.001)
        #expect(Ed25519Verifier.libsodiumOnly.configuration.precomputedKeyLimit == 0)
        #expect(Ed25519Verifier.Configuration.bytesPerPrecomputedKey == 15 * 1024)

        let clamped = tableVerifier(limit: -3, recheckSampleRate: 7)
        #expect(clamped.configuration.precomputedKeyLimit == 0)
        #expect(clamped.configuration.recheckSampleRate == 1)
        #expect(tableVerifier(limit: 0, recheckSampleRate: -1).configuration.recheckSampleRate == 0)
        #expect(tableVerifier(limit: 0, recheckSampleRate: .nan).configuration.recheckSampleRate == 0.001)

        // Wrong lengths are refused, not trapped on.
        let signer = Signer(seed: [UInt8](repeating: 16, count: 32))
        let signature = signer.sign([1])
        #expect(
            !Ed25519Verifier.libsodiumOnly.verify(
                signature: Array(signature.dropLast()),
                message: [1],
                publicKey: signer.publicKey
            )
        )
        #expect(
            !Ed25519Verifier.libsodiumOnly.verify(signature: signature, message: [1], publicKey: [0] + signer.publicKey)
        )
        #expect(Ed25519Verifier.libsodiumOnly.verify(signature: signature, message: [1], publicKey: signer.publicKey))
    }

    @Test("Many threads on one verifier: tables are shared, verdicts stay libsodium's")
    func concurrentChecks() async {
        let verifier = tableVerifier(limit: 4, recheckSampleRate: 0.5)
        let signers = (0..<6).map { Signer(seed: [UInt8](repeating: UInt8(40 + $0), count: 32)) }
        await withTaskGroup(of: Bool.self) { group in
            for task in 0..<4 {
                group.addTask {
                    var ok = true
                    for index in 0..<24 {
                        let signer = signers[(task + index) % signers.count]
                        let message = Self.messages[index % Self.messages.count]
                        var signature = signer.sign(message)
                        let forge = index % 5 == 4
                        if forge { signature[33] ^= 2 }
                        ok = ok && verifier.verify(signer, signature, message) == !forge
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
        #expect(verifier.statistics.disagreements == 0)
        #expect(verifier.statistics.tablesBuilt >= 1)
        #expect(verifier.statistics.fromTables + verifier.statistics.byLibsodium == 96)
    }
}
