import Foundation
import MailroomTestSupport
import Testing

/// `mailroom open` reads batch entries (record format v2) as well as single messages' records: every portable v2
/// record of the batch vectors, in JSON and in binary form, opens for its owner, and a tampered one is refused
/// with its reason.
@Suite("mailroom open, batch records")
struct OpenCommandTests {
    struct Vector: Decodable {
        var name: String
        var kind: String
        var id: String
        var json: String
        var binary_hex: String
        var owner_private_key: String
        var plaintext_hex: String
    }

    struct File: Decodable { var portable_records: [Vector] }

    static func vectors() throws -> [Vector] {
        let url = TestEnvironment.packageRoot.appendingPathComponent(
            "Tests/MailroomCoreTests/Vectors/batch-envelopes.json"
        )
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).portable_records
    }

    @Test func everyBatchRecordOpensForItsOwnerInBothForms() throws {
        let vectors = try Self.vectors()
        #expect(vectors.count >= 4)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("open-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for vector in vectors {
            let key = folder.appendingPathComponent("\(vector.name).key")
            try vector.owner_private_key.write(to: key, atomically: true, encoding: .utf8)
            _ = chmod(key.path, 0o600)
            let json = folder.appendingPathComponent("\(vector.name).json")
            try vector.json.write(to: json, atomically: true, encoding: .utf8)
            let binary = folder.appendingPathComponent("\(vector.name).bin")
            try Data(hexBytes(vector.binary_hex)).write(to: binary)
            for file in [json, binary] {
                let result = try CLI.run(["open", file.path, "--identity", key.path, "--json"], environment: [:])
                #expect(result.status == 0, "\(vector.name): \(result.stderr)")
                let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
                #expect(object["kind"] as? String == vector.kind, "\(vector.name)")
                #expect(object["id"] as? String == vector.id, "\(vector.name)")
                #expect(object["verified"] as? Bool == true)
                #expect(Self.body(object) == hexBytes(vector.plaintext_hex), "\(vector.name): not the plaintext")
            }
            // One flipped byte near the end (in the payload or the sender's copy): refused with a reason, exit 3.
            var tampered = hexBytes(vector.binary_hex)
            tampered[tampered.count - 12] ^= 1
            let bad = folder.appendingPathComponent("\(vector.name).bad")
            try Data(tampered).write(to: bad)
            let refused = try CLI.run(["open", bad.path, "--identity", key.path], environment: [:])
            #expect(refused.status == 3, "\(vector.name): \(refused.stderr)")
            #expect(refused.stderr.contains("does not verify"))
        }
    }

    /// The body from `--json`'s fields: `body` as text, or `body_base64` (QueryCLI.bodyFields).
    static func body(_ object: [String: Any]) -> [UInt8]? {
        if let text = object["body"] as? String { return Array(text.utf8) }
        if let base64 = object["body_base64"] as? String, let data = Data(base64Encoded: base64) { return Array(data) }
        return nil
    }
}
