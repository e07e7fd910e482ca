import CSodium
import Foundation
import Testing

@testable import MailroomEd25519

/// Loads a file from the test bundle's Vectors/ed25519 folder.
func vectorData(_ name: String) throws -> Data {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Vectors/ed25519") else {
        throw CocoaError(.fileNoSuchFile)
    }
    return try Data(contentsOf: url)
}

/// Published vectors through both paths: libsodium's verdict is the expected one, and the tables must give it.
///
/// "The table path" for a case is a fresh ``PrecomputedKey`` of the case's key (its verdict, or libsodium's where
/// it declines: S not below L), and an ``Ed25519Verifier`` with tables that sees every case of the file in turn
/// (tables built for keys it accepted twice, every acceptance re-checked) and must record no disagreement.
/// Keys libsodium refuses before the equation (non-canonical, small order: ``passesLibsodiumKeyChecks(_:)``) never
/// get a table, as in production, where a table is built only for a key libsodium accepted; libsodium must refuse
/// every signature by them.
@Suite("Ed25519 vectors: RFC 8032, Wycheproof, speccheck; tables and libsodium agree")
struct VectorTests {
    struct Case {
        var name: String
        var publicKey: [UInt8]
        var message: [UInt8]
        var signature: [UInt8]
    }

    /// The verdict through a fresh table of the case's key, libsodium's where the table declines; nil when the
    /// key can have no table.
    static func tablePath(_ test: Case) -> Bool? {
        guard test.signature.count == 64, passesLibsodiumKeyChecks(test.publicKey) else { return nil }
        guard let table = PrecomputedKey(uncheckedKey: Encoded32(test.publicKey)!) else {
            Issue.record("\(test.name): a key libsodium's checks pass does not decode")
            return nil
        }
        return tableVerdict(table, test.signature, test.message)
            ?? sodiumVerifies(test.signature, test.message, test.publicKey)
    }

    /// Runs every case both ways (twice through the verifier, so that keys get tables); returns libsodium's verdicts.
    static func bothPaths(_ cases: [Case]) -> [Bool] {
        let verifier = tableVerifier(recheckSampleRate: 1)
        var verdicts: [Bool] = []
        for round in 0..<2 {
            for test in cases {
                let sodium =
                    test.signature.count == 64 && test.publicKey.count == 32
                    && sodiumVerifies(test.signature, test.message, test.publicKey)
                if round == 0 { verdicts.append(sodium) }
                if let table = tablePath(test) {
                    #expect(table == sodium, "\(test.name): table \(table), libsodium \(sodium)")
                } else {
                    #expect(!sodium, "\(test.name): libsodium accepts a key that has no table")
                }
                let checked = verifier.verify(
                    signature: test.signature,
                    message: test.message,
                    publicKey: test.publicKey
                )
                #expect(checked == sodium, "\(test.name): verifier \(checked), libsodium \(sodium)")
            }
        }
        #expect(verifier.statistics.disagreements == 0)
        #expect(verifier.statistics.switchedOff == false)
        return verdicts
    }

    struct RFC8032File: Decodable {
        struct Test: Decodable {
            var name: String
            var seed: String
            var public_key: String
            var message: String
            var signature: String
        }
        var tests: [Test]
    }

    @Test("RFC 8032 tests 1-3 and SHA(abc): libsodium derives the keys and signatures, both paths accept")
    func rfc8032() throws {
        let file = try JSONDecoder().decode(RFC8032File.self, from: vectorData("rfc8032.json"))
        #expect(file.tests.count == 4)
        var cases: [Case] = []
        for test in file.tests {
            let signer = Signer(seed: hexBytes(test.seed))
            #expect(signer.publicKey == hexBytes(test.public_key), "\(test.name)")
            #expect(signer.sign(hexBytes(test.message)) == hexBytes(test.signature), "\(test.name)")
            let good = Case(
                name: test.name,
                publicKey: hexBytes(test.public_key),
                message: hexBytes(test.message),
                signature: hexBytes(test.signature)
            )
            var damaged = good
            damaged.name += ", S + 1"
            damaged.signature[32] &+= 1
            cases += [good, damaged]
        }
        #expect(Self.bothPaths(cases) == [true, false, true, false, true, false, true, false])
        // The SHA(abc) message is SHA-512("abc").
        var digest = [UInt8](repeating: 0, count: 64)
        _ = crypto_hash_sha512(&digest, Array("abc".utf8), 3)
        #expect(digest == hexBytes(file.tests[3].message))
    }

    struct WycheproofFile: Decodable {
        struct Group: Decodable {
            struct Key: Decodable { var pk: String }
            struct Test: Decodable {
                var tcId: Int
                var comment: String
                var msg: String
                var sig: String
                var result: String
            }
            var publicKey: Key
            var tests: [Test]
        }
        var numberOfTests: Int
        var testGroups: [Group]
    }

    @Test("Wycheproof EdDSA: libsodium's verdict is Wycheproof's on every case, and the tables' is libsodium's")
    func wycheproof() throws {
        let file = try JSONDecoder().decode(WycheproofFile.self, from: vectorData("wycheproof_ed25519_test.json"))
        var cases: [Case] = []
        var expected: [Bool] = []
        for group in file.testGroups {
            for test in group.tests {
                cases.append(
                    Case(
                        name: "tcId \(test.tcId) (\(test.comment))",
                        publicKey: hexBytes(group.publicKey.pk),
                        message: hexBytes(test.msg),
                        signature: hexBytes(test.sig)
                    )
                )
                #expect(test.result == "valid" || test.result == "invalid")
                expected.append(test.result == "valid")
            }
        }
        #expect(cases.count == file.numberOfTests)
        let verdicts = Self.bothPaths(cases)
        for (index, test) in cases.enumerated() {
            #expect(verdicts[index] == expected[index], "\(test.name): libsodium \(verdicts[index])")
        }
        #expect(verdicts.filter { $0 }.count == 88)
    }

    struct SpeccheckCase: Decodable {
        var message: String
        var pub_key: String
        var signature: String
    }

    @Test("Taming the many EdDSAs, cases 0-11: libsodium accepts case 3 only, and the tables agree on each")
    func speccheck() throws {
        let file = try JSONDecoder().decode([SpeccheckCase].self, from: vectorData("speccheck_cases.json"))
        #expect(file.count == 12)
        let cases = file.enumerated().map { index, test in
            Case(
                name: "speccheck case \(index)",
                publicKey: hexBytes(test.pub_key),
                message: hexBytes(test.message),
                signature: hexBytes(test.signature)
            )
        }
        let verdicts = Self.bothPaths(cases)
        #expect(verdicts == (0..<12).map { $0 == 3 })
    }
}
