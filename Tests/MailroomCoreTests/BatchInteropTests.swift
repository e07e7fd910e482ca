import Foundation
import MailroomTestSupport
import Testing

@testable import MailroomCore

/// Batches sealed by the Python client (clients/python, written from ENVELOPE.md) verify and open in Swift: a
/// shared batch and a personalised one, every recipient's record alone and the sender's copy. (The vectors hold
/// the other direction: Swift-made batches checked in Python.)
@Suite("Batch envelopes made in Python, read in Swift")
struct BatchInteropTests {
    /// The Python of the project's venv, made by `scripts/bootstrap`.
    static var python: URL { TestEnvironment.packageRoot.appendingPathComponent(".dev/venv/bin/python") }

    static let script = """
        import json, sys
        from mailroom_client.keys import Identity
        from mailroom_client.batch import seal_shared, seal_personalised
        seed = lambda b: Identity.from_seed(bytes([b]) * 32)
        sender = seed(0x11)
        recipients = [seed(0x21 + i) for i in range(3)]
        shared = seal_shared(sender, [r.public_key for r in recipients], b"welcome aboard", sender_body=b"the invite")
        personal = seal_personalised(
            sender, [(r.public_key, ("hi %d" % i).encode()) for i, r in enumerate(recipients[:2])], b"hi {n}")
        out = lambda b: {"records": [r.hex() for r in b.records], "sender_copy": b.sender_copy.hex()}
        json.dump({"shared": out(shared), "personal": out(personal)}, sys.stdout)
        """

    struct Sealed: Decodable {
        struct Batch: Decodable {
            var records: [String]
            var sender_copy: String
        }
        var shared: Batch
        var personal: Batch
    }

    @Test func pythonBatchesVerifyAndOpenInSwift() throws {
        let process = Process()
        process.executableURL = Self.python
        process.arguments = ["-c", Self.script]
        process.currentDirectoryURL = TestEnvironment.packageRoot
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = TestEnvironment.packageRoot.appendingPathComponent("clients/python").path
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "the Python client failed (is .dev/venv there? scripts/bootstrap)")
        let sealed = try JSONDecoder().decode(Sealed.self, from: data)

        let sender = try Identity(seed: [UInt8](repeating: 0x11, count: 32))
        let recipients = try (0..<3).map { try Identity(seed: [UInt8](repeating: UInt8(0x21 + $0), count: 32)) }
        let cache = BatchSignatureCache()
        for (kind, batch, bodies, senderBody) in [
            ("shared", sealed.shared, Array(repeating: "welcome aboard", count: 3), "the invite"),
            ("personalised", sealed.personal, ["hi 0", "hi 1"], "hi {n}"),
        ] {
            #expect(batch.records.count == bodies.count, "\(kind)")
            for (index, hex) in batch.records.enumerated() {
                let record = try BatchRecipientEnvelope.verify(try Self.bytes(hex), verifiedRoots: cache)
                #expect(record.index == index, "\(kind)")
                #expect(record.recipient == recipients[index].publicKey, "\(kind)")
                #expect(try record.open(with: recipients[index]) == Array(bodies[index].utf8), "\(kind)")
                // Alone, without the cache, too; and not for anyone else.
                _ = try BatchRecipientEnvelope.verify(try Self.bytes(hex))
                #expect(throws: EnvelopeError.self) { _ = try record.open(with: recipients[(index + 1) % 3]) }
            }
            let copy = try BatchSenderCopy.verify(try Self.bytes(batch.sender_copy))
            #expect(copy.recipients.map(\.key) == recipients.prefix(bodies.count).map(\.publicKey), "\(kind)")
            #expect(try copy.open(with: sender) == Array(senderBody.utf8), "\(kind)")
        }
    }

    static func bytes(_ hex: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(try #require(UInt8(hex[index..<next], radix: 16)))
            index = next
        }
        return bytes
    }
}
