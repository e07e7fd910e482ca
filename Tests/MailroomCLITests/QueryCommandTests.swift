import Foundation
import MailroomCore
import MailroomPostgres
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

/// The reading commands through the built `mailroom` executable, as a user runs them.
@Suite(
    "mailroom inbox / sentbox / read / delete / unread / watch, end to end",
    .enabled(if: TestEnvironment.hasDatabase)
)
struct QueryCommandTests {
    /// Polls `condition` until it holds or 30 s pass (the watch is another process, on two busy cores).
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    static func store(_ envelopes: [Envelope], in database: TestDatabase) async throws {
        let rows = envelopes.enumerated().map {
            NewMessage($1, source: RecordSource(topic: "cli", partition: 0, offset: Int64($0)))
        }
        try await database.withConnection {
            _ = try await MessageWriter().write(rows, rejections: [], worker: "cli", on: $0)
        }
    }

    /// A migrated database, a scratch folder, and the CLI environment that points at them.
    static func migratedDatabase(_ name: String) async throws -> (TestDatabase, URL, [String: String]) {
        let database = try await TestDatabase.create()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mailroom-\(name)-cli-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let env = [
            "MAILROOM_DATABASE_URL": database.url, "MAILROOM_IDENTITY": "", "MAILROOM_IDENTITY_FILE": "",
            "MAILROOM_LOG_LEVEL": "warning",
        ]
        #expect(try CLI.run(["migrate"], environment: env).status == 0)
        return (database, folder, env)
    }

    /// `mailroom block`, `blocks` and `unblock` keep the identity's block list, as the worker reads it.
    @Test func blockListThroughTheExecutable() async throws {
        let (database, folder, env) = try await Self.migratedDatabase("block")
        defer { Task { try? await database.drop() } }
        defer { try? FileManager.default.removeItem(at: folder) }
        let bobFile = folder.appendingPathComponent("bob.key").path
        #expect(try CLI.run(["keygen", "--out", bobFile], environment: env).status == 0)
        // No mailbox yet: refused with the query library's not-found status.
        let spammer = Identity.generate().publicKey
        let early = try CLI.run(["block", spammer.textileString, "--identity", bobFile], environment: env)
        #expect(early.status != 0)
        #expect(early.stderr.contains("no mailbox"))
        #expect(try CLI.run(["setup", "--identity", bobFile], environment: env).status == 0)

        let block = try CLI.run(["block", spammer.hexString, "--identity", bobFile, "--json"], environment: env)
        #expect(block.status == 0, "\(block.stderr)")
        #expect(Self.json(block.stdout)["new"] as? Bool == true)
        let twice = try CLI.run(["block", spammer.textileString, "--identity", bobFile, "--json"], environment: env)
        #expect(Self.json(twice.stdout)["new"] as? Bool == false)
        let list = try CLI.run(["blocks", "--identity", bobFile, "--json"], environment: env)
        #expect(list.status == 0)
        #expect(Self.json(list.stdout)["key"] as? String == spammer.textileString)
        let bob = try Identity(
            textileString: try String(contentsOfFile: bobFile, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines
            )
        )
        let pairs = try await database.withConnection {
            try await BlockQueries.blockedPairs(recipients: [bob.publicKey.bytes], on: $0)
        }
        #expect(pairs == [bob.publicKey.bytes + spammer.bytes])
        #expect(try CLI.run(["block", "not-a-key", "--identity", bobFile], environment: env).status != 0)

        let unblock = try CLI.run(
            ["unblock", spammer.textileString, "--identity", bobFile, "--json"],
            environment: env
        )
        #expect(Self.json(unblock.stdout)["was_blocked"] as? Bool == true)
        #expect(try CLI.run(["blocks", "--identity", bobFile], environment: env).stdout.isEmpty)
    }

    @Test func listReadDeleteWatchThroughTheExecutable() async throws {
        let (database, folder, env) = try await Self.migratedDatabase("query")
        defer { Task { try? await database.drop() } }
        defer { try? FileManager.default.removeItem(at: folder) }
        let aliceFile = folder.appendingPathComponent("alice.key").path
        let bobFile = folder.appendingPathComponent("bob.key").path
        for file in [aliceFile, bobFile] {
            #expect(try CLI.run(["keygen", "--out", file], environment: env).status == 0)
            #expect(try CLI.run(["setup", "--identity", file], environment: env).status == 0)
        }
        let alice = try Identity(
            textileString: try String(contentsOfFile: aliceFile, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines
            )
        )
        let bobSecret = try String(contentsOfFile: bobFile, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        let bob = try Identity(textileString: bobSecret)
        let envelopes = try (0..<5).map {
            try Envelope.seal(from: alice, to: bob.publicKey, body: Array("Hello \($0)".utf8))
        }
        try await Self.store(envelopes, in: database)
        let ids = envelopes.map(\.id.description)

        // Pages of 2, newest first, with the exclusive cursor.
        let first = try CLI.run(["inbox", "--identity", bobFile, "--limit", "2", "--json"], environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        let firstPage = Self.json(first.stdout)
        let firstIDs = (firstPage["messages"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(firstIDs == [ids[4], ids[3]])
        let seek = try #require(firstPage["next_seek"] as? String)
        let second = try CLI.run(
            ["inbox", "--identity", bobFile, "--limit", "2", "--seek", seek, "--json"],
            environment: env
        )
        #expect(
            (Self.json(second.stdout)["messages"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } == [
                ids[2], ids[1],
            ]
        )
        let ascending = try CLI.run(
            ["inbox", "--identity", bobFile, "--ascending", "--limit", "1", "--json"],
            environment: env
        )
        #expect((Self.json(ascending.stdout)["messages"] as? [[String: Any]])?.first?["id"] as? String == ids[0])
        #expect(try CLI.run(["inbox", "--identity", bobFile, "--limit", "10001"], environment: env).status == 1)

        // A readable table, bodies opened and verified; the identity from the environment works too.
        let table = try CLI.run(["inbox", "--open"], environment: env.merging(["MAILROOM_IDENTITY": bobSecret]) { $1 })
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.hasPrefix("ID"))
        #expect(table.stdout.contains("Hello 3"))
        #expect(table.stdout.contains(alice.publicKey.textileString))
        #expect(!table.stdout.contains(bobSecret) && !table.stderr.contains(bobSecret))

        // Read: marks it, opens it; unread counts follow; another owner cannot.
        #expect(
            Self.json(try CLI.run(["unread", "--identity", bobFile, "--json"], environment: env).stdout)["unread"]
                as? Int == 5
        )
        let read = try CLI.run(["read", ids[1], "--identity", bobFile, "--json"], environment: env)
        #expect(read.status == 0, "\(read.stderr)")
        #expect(Self.json(read.stdout)["body"] as? String == "Hello 1")
        #expect(Self.json(read.stdout)["verified"] as? Bool == true)
        #expect(try CLI.run(["unread", "--identity", bobFile], environment: env).stdout == "4 unread\n")
        let readOnly = try CLI.run(["inbox", "--identity", bobFile, "--status", "read", "--json"], environment: env)
        #expect(Self.json(readOnly.stdout)["count"] as? Int == 1)
        let notYours = try CLI.run(["read", ids[1], "--identity", aliceFile], environment: env)
        #expect(notYours.status == 2)
        #expect(notYours.stderr.contains("no inbox message"))
        #expect(try CLI.run(["read", "not-an-id", "--identity", bobFile], environment: env).status == 1)

        // Delete: the inbox copy only, once.
        #expect(try CLI.run(["delete", ids[0], "--identity", aliceFile], environment: env).status == 2)
        #expect(try CLI.run(["delete", ids[0], "--identity", bobFile], environment: env).status == 0)
        #expect(try CLI.run(["delete", ids[0], "--identity", bobFile], environment: env).status == 2)
        let sent = try CLI.run(["sentbox", "--identity", aliceFile, "--open", "--json"], environment: env)
        let sentMessages = Self.json(sent.stdout)["messages"] as? [[String: Any]] ?? []
        #expect(sentMessages.count == 5)
        #expect(sentMessages.allSatisfy { $0["verified"] as? Bool == true })
        #expect(try CLI.run(["delete", ids[0], "--sentbox", "--identity", aliceFile], environment: env).status == 0)

        // A tampered row: --open says so and exits 3.
        _ = try await database.withConnection { connection in
            try await connection.query(
                "UPDATE inbox_messages SET body = set_byte(body, 30, get_byte(body, 30) # 1) WHERE id = \(envelopes[2].id.uuid)"
            )
        }
        let tampered = try CLI.run(["inbox", "--identity", bobFile, "--open"], environment: env)
        #expect(tampered.status == 3)
        #expect(tampered.stdout.contains("TAMPERED (bad_signature)"))
        #expect(try CLI.run(["read", ids[2], "--identity", bobFile], environment: env).status == 3)

        // Watch: events as JSON lines; SIGTERM ends it with status 0.
        let watch = try RunningCLI(["watch", "--identity", bobFile, "--json"], environment: env)
        #expect(try await Self.eventually { watch.output.contains("watching the inbox") }, "\(watch.output)")
        let late = try Envelope.seal(from: alice, to: bob.publicKey, body: Array("late".utf8))
        try await Self.store([late], in: database)
        let expected = #"{"box":"inbox","event":"created","ids":["\#(late.id)"]}"#
        #expect(try await Self.eventually { watch.output.contains(expected) }, "\(watch.output)")
        #expect(try CLI.run(["delete", late.id.description, "--identity", bobFile], environment: env).status == 0)
        #expect(try await Self.eventually { watch.output.contains(#""event":"deleted""#) }, "\(watch.output)")
        watch.signal(SIGTERM)
        #expect(try await watch.exitStatus(within: .seconds(10)) == 0, "\(watch.output)")

        // Every command explains itself.
        for command in ["inbox", "sentbox", "read", "delete", "watch", "unread"] {
            let help = try CLI.run([command, "--help"], environment: env)
            #expect(help.status == 0)
            #expect(
                help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains(
                    "Exit status: 0 success"
                ),
                "\(command)"
            )
        }
        #expect(try CLI.run(["inbox"], environment: env).status == 1)  // no identity
    }
}
