import Foundation
import MailroomCore
import MailroomKafka
import MailroomPostgres
import MailroomProducer
import MailroomStore
import MailroomTestSupport
import MailroomWorker
import Testing

/// The whole story through the built `mailroom` executable, as an operator runs it.
@Suite(
    "mailroom send / invite / worker / dlq, end to end",
    .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase)
)
struct PipelineCommandTests {
    struct Stack {
        let database: TestDatabase
        let environment: [String: String]
        let topicArguments: [String]
        let folder: URL
    }

    static func stack() async throws -> Stack {
        let database = try await TestDatabase.create()
        let suffix = UInt32.random(in: 0...UInt32.max)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mailroom-cli-\(suffix)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let environment = [
            "MAILROOM_DATABASE_URL": database.url, "MAILROOM_IDENTITY": "", "MAILROOM_IDENTITY_FILE": "",
            "MAILROOM_WORKER_GROUP": "cli-workers-\(suffix)", "MAILROOM_LOG_LEVEL": "warning",
        ]
        let migrate = try CLI.run(["migrate"], environment: environment)
        #expect(migrate.status == 0, "\(migrate.stderr)")
        return Stack(
            database: database,
            environment: environment,
            topicArguments: ["--topic", "cli-envelopes-\(suffix)", "--dlq-topic", "cli-dlq-\(suffix)"],
            folder: folder
        )
    }

    static func count(_ stack: Stack, _ sql: PostgresQuery) async throws -> Int {
        try await stack.database.withConnection { Int(try await $0.query(sql).single().decode(Int64.self, column: 0)) }
    }

    static func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws -> Bool
    {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return try await condition()
    }

    @Test func keygenSetupSendInviteWorkerAndReplay() async throws {
        let stack = try await Self.stack()
        let env = stack.environment
        let alice = stack.folder.appendingPathComponent("alice.key").path
        let bob = stack.folder.appendingPathComponent("bob.key").path

        let keygen = try CLI.run(["keygen", "--out", alice, "--json"], environment: env)
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let aliceKey =
            (try JSONSerialization.jsonObject(with: Data(keygen.stdout.utf8)) as? [String: Any])?["public_key"]
            as? String ?? ""
        #expect(aliceKey.hasPrefix("bbaarei"))
        #expect(try CLI.run(["keygen", "--out", alice], environment: env).status == 1)  // never overwrites
        let bobKeygen = try CLI.run(["keygen", "--out", bob], environment: env)
        #expect(bobKeygen.status == 0)
        let bobKey =
            bobKeygen.stdout.components(separatedBy: "public key: ").last?.trimmingCharacters(
                in: .whitespacesAndNewlines
            ) ?? ""
        let mode = try FileManager.default.attributesOfItem(atPath: alice)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        // Secrets never reach standard output.
        let secret = try String(contentsOfFile: alice, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!keygen.stdout.contains(secret))

        for key in [alice, bob] {
            let setup = try CLI.run(["setup", "--identity", key], environment: env)
            #expect(setup.status == 0, "\(setup.stderr)")
        }
        let topics = try CLI.run(["topics", "create", "--partitions", "3"] + stack.topicArguments, environment: env)
        #expect(topics.status == 0, "\(topics.stderr)")
        #expect(topics.stdout.contains("created"))

        let send = try CLI.run(
            ["send", "--from", alice, "--to", bobKey, "--json"] + stack.topicArguments,
            environment: env,
            stdin: "Hello Bob"
        )
        #expect(send.status == 0, "\(send.stderr)")
        #expect(!send.stdout.contains("Hello Bob"))

        // Invites: a CSV with personalised bodies, 30 recipients with mailboxes, one bad line.
        let invitees = (0..<30).map { _ in Identity.generate() }
        try await stack.database.withConnection { connection in
            for invitee in invitees {
                _ = try await MailboxQueries.setup(owner: invitee.publicKey.bytes, on: connection)
            }
        }
        var csv = "key,body\n"
        for (index, invitee) in invitees.enumerated() {
            csv += "\(invitee.publicKey.textileString),\"Welcome, friend \(index)\"\n"
        }
        csv += "not-a-key,hello\n"
        let recipients = stack.folder.appendingPathComponent("invitees.csv")
        try csv.write(to: recipients, atomically: true, encoding: .utf8)
        let badSize = try CLI.run(
            ["invite", "--from", alice, "--recipients", recipients.path, "--batch-recipients", "0"]
                + stack.topicArguments,
            environment: env
        )
        #expect(badSize.status != 0 && badSize.stderr.contains("--batch-recipients"))
        // 30 valid recipients at 20 per batch: two personalised batch envelopes (v2) of 15.
        let invite = try CLI.run(
            ["invite", "--from", alice, "--recipients", recipients.path, "--batch-recipients", "20", "--json"]
                + stack.topicArguments,
            environment: env
        )
        #expect(invite.status == 1)  // one recipient failed
        let summary = try JSONSerialization.jsonObject(with: Data(invite.stdout.utf8)) as? [String: Any]
        #expect(summary?["sent"] as? Int == 30)
        #expect(summary?["failed"] as? Int == 1)
        #expect(summary?["batches"] as? Int == 2)
        #expect(summary?["sender_copies_failed"] as? Int == 0)
        #expect(invite.stderr.contains("not-a-key"))

        // A message to someone without a mailbox yet: dead-lettered, replayed once they set one up.
        let carol = Identity.generate()
        let toCarol = try CLI.run(
            ["send", "--from", alice, "--to", carol.publicKey.hexString] + stack.topicArguments,
            environment: env,
            stdin: "Hi Carol"
        )
        #expect(toCarol.status == 0, "\(toCarol.stderr)")

        let metricsPort = try FreePort.reserve()
        let worker = try RunningCLI(
            ["worker", "--metrics-port", "\(metricsPort)"] + stack.topicArguments,
            environment: env
        )
        #expect(try await Self.eventually { try await Self.count(stack, "SELECT count(*) FROM inbox_messages") == 31 })
        #expect(
            try await Self.eventually { try await Self.count(stack, "SELECT count(*) FROM rejected_envelopes") == 1 }
        )
        let reason = try await stack.database.withConnection {
            try await $0.query("SELECT reason FROM rejected_envelopes").single().decode(String.self, column: 0)
        }
        #expect(reason == "no_recipient_mailbox")

        try await stack.database.withConnection {
            _ = try await MailboxQueries.setup(owner: carol.publicKey.bytes, on: $0)
        }
        let replay = try CLI.run(
            ["dlq", "replay", "--reason", "no_recipient_mailbox", "--idle-ms", "4000", "--json"] + stack.topicArguments,
            environment: env
        )
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(
            (try JSONSerialization.jsonObject(with: Data(replay.stdout.utf8)) as? [String: Any])?["replayed"] as? Int
                == 1
        )
        #expect(
            try await Self.eventually {
                try await Self.count(
                    stack,
                    "SELECT count(*) FROM inbox_messages WHERE owner = \(carol.publicKey.bytes)"
                ) == 1
            }
        )

        // The counters say what happened to every record, as Prometheus text.
        let metrics = try MetricsEndpoint.scrape(port: metricsPort)
        // Stored: the send, 30 invitees' messages, the 2 batches' sender copies, and carol's after the replay.
        #expect(metrics.contains("mailroom_worker_stored_total 34"), "\(metrics)")
        // 1 send, 30 invite records and 2 batch sender copies, 1 to carol, 1 replayed.
        #expect(metrics.contains("mailroom_worker_consumed_total 35"))
        #expect(metrics.contains(#"mailroom_worker_rejected_total{reason="no_recipient_mailbox"} 1"#))
        #expect(metrics.contains("mailroom_worker_end_to_end_latency_seconds"))
        #expect(metrics.contains("mailroom_worker_consumer_lag"))

        // SIGTERM: finish, commit, leave the group, exit 0.
        worker.signal(SIGTERM)
        let status = try await worker.exitStatus(within: .seconds(30))
        #expect(status == 0, "\(worker.output)")
        #expect(!worker.output.contains("Hello Bob"))
        try? FileManager.default.removeItem(at: stack.folder)
        try await stack.database.drop()
    }

    /// A service that fails ends the worker: with its metrics port taken, `mailroom worker` stops (the group
    /// cancels the batch loop as SIGTERM would) and exits non-zero with the reason, instead of hanging.
    @Test func aWorkerWhoseMetricsPortIsTakenExitsWithTheReason() async throws {
        let stack = try await Self.stack()
        _ = try CLI.run(
            ["topics", "create", "--partitions", "1"] + stack.topicArguments,
            environment: stack.environment
        )
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(taken) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(taken, $0, length) == 0 && listen(taken, 1) == 0 && getsockname(taken, $0, &length) == 0
            }
        }
        #expect(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let worker = try RunningCLI(
            ["worker", "--metrics-port", "\(port)"] + stack.topicArguments,
            environment: stack.environment
        )
        let status = try await worker.exitStatus(within: .seconds(45))
        if status == nil { worker.signal(SIGKILL) }
        #expect(status != nil && status != 0, "the worker did not end: \(worker.output)")
        #expect(worker.output.contains("\(port)"), "\(worker.output)")
        try? FileManager.default.removeItem(at: stack.folder)
        try await stack.database.drop()
    }

    /// With single envelopes (v1) and with batch envelopes (v2: 24 batches of 1,000, records of one batch on every
    /// partition, each batch's sender copy on its sender's).
    @Test(arguments: [false, true])
    func killNineAtRandomMomentsLosesNothingAndWritesNothingTwice(batches: Bool) async throws {
        let stack = try await Self.stack()
        let env = stack.environment
        _ = try CLI.run(["topics", "create", "--partitions", "4"] + stack.topicArguments, environment: env)
        let senders = (0..<4).map { _ in Identity.generate() }
        let recipients = (0..<50).map { _ in Identity.generate() }
        try await stack.database.withConnection { connection in
            for identity in senders + recipients {
                _ = try await MailboxQueries.setup(owner: identity.publicKey.bytes, on: connection)
            }
        }
        var configuration = MailroomProducer.Configuration(
            kafka: KafkaConfiguration(brokers: try TestEnvironment.requireBrokers(), overrides: ["log_level": "3"]),
            topics: MailroomTopics(envelopes: stack.topicArguments[1], deadLetters: stack.topicArguments[3])
        )
        if !batches { configuration.minBatchRecipients = .max }
        let producer = try MailroomProducer(configuration)
        // Enough that a drain lasts seconds even on a fast machine, so a kill lands mid-stream even when this
        // test's own polling runs late on two busy cores.
        let total = 24_000
        var produced: [(id: MessageID, partition: Int32, offset: Int64)] = []
        for (index, sender) in senders.enumerated() {
            let messages = (0..<(total / senders.count)).map { n in
                BulkMessage(
                    recipient: recipients[(n + index) % recipients.count].publicKey.textileString,
                    body: Array("n\(n)".utf8)
                )
            }
            let results = await producer.sendBulk(from: sender, messages: messages)
            #expect(results.allSatisfy { $0.isSent })
            for case .sent(let id, let partition, let offset) in results { produced.append((id, partition, offset)) }
        }
        await producer.close()
        #expect(produced.count == total)

        // Three workers killed with SIGKILL at random moments, each started after the last died; each may hold
        // up to five verified batches queued behind its write when it dies.
        var killedWhileWorking = 0
        for _ in 0..<3 {
            let worker = try RunningCLI(
                ["worker", "--batch-size", "100", "--write-queue", "5", "--write-queue-mb", "16"]
                    + stack.topicArguments,
                environment: env
            )
            let before = try await Self.count(stack, "SELECT count(*) FROM inbox_messages")
            // Once it is writing, kill it at a random moment within the next few batches.
            let deadline = ContinuousClock.now + .seconds(40)
            while try await Self.count(stack, "SELECT count(*) FROM inbox_messages") == before,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...250)))
            worker.signal(SIGKILL)
            _ = try await worker.exitStatus(within: .seconds(10))
            let after = try await Self.count(stack, "SELECT count(*) FROM inbox_messages")
            if after > before && after < total { killedWhileWorking += 1 }
        }
        let last = try RunningCLI(["worker"] + stack.topicArguments, environment: env)
        #expect(
            try await Self.eventually(timeout: .seconds(120)) {
                try await Self.count(stack, "SELECT count(*) FROM inbox_messages") == total
            }
        )
        if batches {
            // Every batch's sender copy stored too: its sentbox entry, one per batch.
            #expect(
                try await Self.eventually(timeout: .seconds(60)) {
                    try await Self.count(stack, "SELECT count(*) FROM sentbox_batches") == total / 1_000
                }
            )
        } else {
            // Every partition's recorded progress reaches the last record produced to it: each batch records it in its
            // own transaction, in offset order, so every record (redeliveries of the killed workers' batches
            // included) has been through a write by then.
            var ends: [Int32: Int64] = [:]
            for record in produced { ends[record.partition] = max(ends[record.partition] ?? 0, record.offset + 1) }
            #expect(
                try await Self.eventually(timeout: .seconds(60)) {
                    try await stack.database.withConnection { connection in
                        var recorded: [Int32: Int64] = [:]
                        for row in try await connection.query(
                            "SELECT kafka_partition, next_offset FROM worker_progress WHERE topic = \(stack.topicArguments[1])"
                        ) {
                            let (partition, next) = try row.decode(Int32.self, Int64?.self)
                            recorded[partition] = next
                        }
                        return recorded == ends
                    }
                }
            )
        }
        last.signal(SIGTERM)
        #expect(try await last.exitStatus(within: .seconds(30)) == 0)
        // Nothing lost, nothing doubled: each produced message stored once under its id (rows), and counted once
        // in its recipient's mailbox (counters, which a redelivery counted again would push past the total).
        let stored = try await stack.database.withConnection { connection in
            try await connection.query("SELECT id FROM inbox_messages").map { try $0.decode(MessageID.self, column: 0) }
        }
        #expect(stored.sorted() == produced.map(\.id).sorted())
        #expect(try await Self.count(stack, "SELECT count(*) FROM sentbox_messages") == (batches ? 0 : total))
        #expect(try await Self.count(stack, "SELECT count(*) FROM sentbox_batches") == (batches ? total / 1_000 : 0))
        #expect(try await Self.count(stack, "SELECT coalesce(sum(messages), 0)::bigint FROM mailbox_usage") == total)
        #expect(try await Self.count(stack, "SELECT count(*) FROM rejected_envelopes") == 0)
        // At least one kill must have landed mid-stream for the test to mean anything.
        #expect(killedWhileWorking >= 1)
        try? FileManager.default.removeItem(at: stack.folder)
        try await stack.database.drop()
    }
}
