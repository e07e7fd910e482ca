import Foundation
import MailroomCore
import MailroomPostgres
import MailroomTestSupport
import Testing

/// Keys that never enter a Swift process: the Python client (clients/python) seals and opens, the `mailroom`
/// executable only submits, stores and exports records.
@Suite(
    "Device-held keys: Python seals, mailroom submits and stores, Python opens",
    .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase)
)
struct DeviceKeysTests {
    /// `python -m mailroom_client` from the project's venv, with the client's source on the path.
    static func python(
        _ arguments: [String],
        environment: [String: String] = [:],
        pythonArguments: Bool = false
    ) throws
        -> CLI.Result
    {
        let root = TestEnvironment.packageRoot
        let venv = root.appendingPathComponent(".dev/venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else {
            throw CLIError("no Python venv at \(venv): run scripts/bootstrap")
        }
        return try CLI.run(
            (pythonArguments ? [] : ["-m", "mailroom_client"]) + arguments,
            environment: environment.merging(["PYTHONPATH": root.appendingPathComponent("clients/python").path]) { $1 },
            executable: URL(fileURLWithPath: venv)
        )
    }

    struct CLIError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func object(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    @Test(
        "Sealed in Python, submitted by mailroom and produced straight to Kafka, stored once, opened in Python from records"
    )
    func deviceToDevice() async throws {
        let stack = try await PipelineCommandTests.stack()
        let env = stack.environment
        let folder = stack.folder
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

        // Both identities are made by the Python client; mailroom only ever sees their public keys.
        var keys: [String: String] = [:]
        for name in ["alice", "bob"] {
            let keygen = try Self.python(["keygen", "--out", path("\(name).key"), "--json"])
            #expect(keygen.status == 0, "\(keygen.stderr)")
            keys[name] = Self.object(keygen.stdout)["public_key"] as? String ?? ""
            let setup = try CLI.run(["setup", "--owner", keys[name]!], environment: env)
            #expect(setup.status == 0, "\(setup.stderr)")
        }
        let alice = keys["alice"]!
        let bob = keys["bob"]!
        #expect(bob.hasPrefix("bbaarei"))
        let topics = try CLI.run(["topics", "create", "--partitions", "3"] + stack.topicArguments, environment: env)
        #expect(topics.status == 0, "\(topics.stderr)")

        // 1. Python seals; `mailroom submit` checks and produces it (twice: the worker stores it once).
        try Data("through mailroom submit".utf8).write(to: URL(fileURLWithPath: path("body1")))
        let seal1 = try Self.python([
            "seal", "--identity", path("alice.key"), "--to", bob, "--body-file", path("body1"), "--out",
            path("one.env"),
            "--json",
        ])
        #expect(seal1.status == 0, "\(seal1.stderr)")
        let id1 = Self.object(seal1.stdout)["id"] as? String ?? ""
        for _ in 0..<2 {
            let submit = try CLI.run(["submit", path("one.env"), "--json"] + stack.topicArguments, environment: env)
            #expect(submit.status == 0, "\(submit.stderr)")
            #expect(Self.object(submit.stdout)["id"] as? String == id1)
        }
        // A forged copy (one bit of the signature) is refused by submit, with its reason, and never sent.
        var forged = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path("one.env"))))
        forged[forged.count - 1] ^= 0x01
        try Data(forged).write(to: URL(fileURLWithPath: path("forged.env")))
        let refused = try CLI.run(["submit", path("forged.env"), "--json"] + stack.topicArguments, environment: env)
        #expect(refused.status == 1)
        #expect(((Self.object(refused.stdout)["error"] as? [String: Any])?["reason"] as? String) == "bad_signature")

        // 2. Python seals and produces straight to Kafka with confluent-kafka (base64 text through stdin too).
        try Data("straight to kafka".utf8).write(to: URL(fileURLWithPath: path("body2")))
        let seal2 = try Self.python([
            "seal", "--identity", path("alice.key"), "--to", bob, "--body-file", path("body2"), "--out",
            path("two.env"),
        ])
        #expect(seal2.status == 0, "\(seal2.stderr)")
        let produce = try Self.python([
            "submit", path("two.env"), "--brokers", try TestEnvironment.requireBrokers(), "--topic",
            stack.topicArguments[1],
            "--json",
        ])
        #expect(produce.status == 0, "\(produce.stderr)")
        let id2 = Self.object(produce.stdout)["id"] as? String ?? ""
        // 3. Swift seals for bob with an identity of its own (the custodial mode), submitted as base64 text.
        let carolKey = path("carol.key")
        let carolKeygen = try CLI.run(["keygen", "--out", carolKey, "--json"], environment: env)
        #expect(carolKeygen.status == 0)
        let carolPublic = Self.object(carolKeygen.stdout)["public_key"] as? String ?? ""
        #expect(try CLI.run(["setup", "--identity", carolKey], environment: env).status == 0)
        let sealed = try CLI.run(
            ["seal", "--identity", carolKey, "--to", bob, "--out", path("three.env"), "--json"],
            environment: env,
            stdin: "from swift"
        )
        #expect(sealed.status == 0, "\(sealed.stderr)")
        // Sealing again to the same file refuses and leaves the first envelope as it was.
        let sealedBytes = try Data(contentsOf: URL(fileURLWithPath: path("three.env")))
        let again = try CLI.run(
            ["seal", "--identity", carolKey, "--to", bob, "--out", path("three.env")],
            environment: env,
            stdin: "again"
        )
        #expect(again.status == 1)
        #expect(again.stderr.contains("exists"), "\(again.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("three.env"))) == sealedBytes)
        // Hex is digits only: a sign the integer parser would take is refused.
        let signed = try CLI.run(
            ["submit", "--hex", "-"] + stack.topicArguments,
            environment: env,
            stdin: "+1" + String(repeating: "00", count: 200)
        )
        #expect(signed.status == 1)
        #expect(signed.stderr.contains("not hexadecimal"), "\(signed.stderr)")
        let id3 = Self.object(sealed.stdout)["id"] as? String ?? ""
        let verified = try Self.python(["verify", path("three.env"), "--json"])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(Self.object(verified.stdout)["id"] as? String == id3)
        let base64 = try Data(contentsOf: URL(fileURLWithPath: path("three.env"))).base64EncodedString()
        let submitted = try CLI.run(
            ["submit", "--base64", "-"] + stack.topicArguments,
            environment: env,
            stdin: base64
        )
        #expect(submitted.status == 0, "\(submitted.stderr)")

        // The worker stores each message exactly once. All four records (one.env twice, two.env, three.env) are keyed by bob, so they share a partition
        // and are stored in order: once three.env is in, the second copy of one.env has been handled too.
        let worker = try RunningCLI(["worker"] + stack.topicArguments, environment: env)
        #expect(
            try await PipelineCommandTests.eventually {
                try await PipelineCommandTests.count(stack, "SELECT count(*) FROM inbox_messages") >= 3
            }
        )
        worker.signal(SIGTERM)
        #expect(try await worker.exitStatus(within: .seconds(30)) == 0, "\(worker.output)")
        let stored = try await stack.database.withConnection { connection in
            try await connection.query("SELECT id::text FROM inbox_messages ORDER BY id").map {
                try $0.decode(String.self, column: 0)
            }
        }
        #expect(stored.count == 3)
        #expect(try await PipelineCommandTests.count(stack, "SELECT count(*) FROM rejected_envelopes") == 0)

        // Bob's records, listed by his public key alone, verify and open in Python with his key.
        let inbox = try CLI.run(["inbox", "--owner", bob, "--records"], environment: env)
        #expect(inbox.status == 0, "\(inbox.stderr)")
        let records = inbox.stdout.split(separator: "\n").map(String.init)
        #expect(records.count == 3)
        var bodies: [String: String] = [:]
        for (index, record) in records.enumerated() {
            try record.write(toFile: path("record\(index).json"), atomically: true, encoding: .utf8)
            let opened = try Self.python(["open", path("record\(index).json"), "--identity", path("bob.key"), "--json"])
            #expect(opened.status == 0, "\(opened.stderr)")
            let object = Self.object(opened.stdout)
            let body = (object["body_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map {
                String(decoding: $0, as: UTF8.self)
            }
            bodies[object["id"] as? String ?? ""] = body
        }
        #expect(bodies[id1] == "through mailroom submit")
        #expect(bodies[id2] == "straight to kafka")
        #expect(bodies[id3] == "from swift")
        // Alice's sentbox record opens with her key, and not with bob's.
        let sentbox = try CLI.run(["sentbox", "--owner", alice, "--records"], environment: env)
        let sent = sentbox.stdout.split(separator: "\n").map(String.init)
        #expect(sent.count == 2)
        try sent[0].write(toFile: path("sent.json"), atomically: true, encoding: .utf8)
        #expect(try Self.python(["open", path("sent.json"), "--identity", path("alice.key")]).status == 0)
        let wrongKey = try Self.python(["open", path("sent.json"), "--identity", path("bob.key")])
        #expect(wrongKey.status == 3)
        #expect(wrongKey.stderr.contains("not_a_party"))

        // A record altered in a signed field fails in both languages; the unsigned read_at does not matter.
        let original = try MessageRecord(json: records[0])
        var tampered = original
        tampered.otherCiphertextHash[0] ^= 1
        try tampered.json().write(toFile: path("tampered.json"), atomically: true, encoding: .utf8)
        let pythonTampered = try Self.python(["open", path("tampered.json"), "--identity", path("bob.key")])
        #expect(pythonTampered.status == 3)
        #expect(pythonTampered.stderr.contains("bad_signature"), "\(pythonTampered.stderr)")
        let swiftTampered = try CLI.run(
            ["open", path("tampered.json")],
            environment: env.merging(["MAILROOM_IDENTITY_FILE": path("bob.key")]) { $1 }
        )
        #expect(swiftTampered.status == 3)
        #expect(swiftTampered.stderr.contains("bad_signature"))
        // The Swift open names the verified sender, and --expect-sender refuses a record signed by another key.
        let bobEnv = env.merging(["MAILROOM_IDENTITY_FILE": path("bob.key")]) { $1 }
        let fromCarol = try #require(records.first { (try? MessageRecord(json: $0))?.id.description == id3 })
        try fromCarol.write(toFile: path("from-carol.json"), atomically: true, encoding: .utf8)
        let named = try CLI.run(["open", path("from-carol.json")], environment: bobEnv)
        #expect(named.status == 0, "\(named.stderr)")
        #expect(named.stdout == "from swift")
        #expect(named.stderr.contains("from \(carolPublic)"), "\(named.stderr)")
        #expect(
            try CLI.run(["open", path("from-carol.json"), "--expect-sender", carolPublic], environment: bobEnv).status
                == 0
        )
        let impostor = try CLI.run(["open", path("from-carol.json"), "--expect-sender", alice], environment: bobEnv)
        #expect(impostor.status == 3)
        #expect(impostor.stdout.isEmpty)
        #expect(impostor.stderr.contains("not the expected sender"))
        var reread = original
        reread.readAtMilliseconds = 1
        try reread.json().write(toFile: path("reread.json"), atomically: true, encoding: .utf8)
        #expect(try Self.python(["open", path("reread.json"), "--identity", path("bob.key")]).status == 0)

        try? FileManager.default.removeItem(at: folder)
        try await stack.database.drop()
    }
}
