import Foundation
import MailroomCore
import MailroomPostgres
import MailroomTestSupport
import Testing

/// `mailroom serve` over real HTTP, with the real database and broker; the Python client holds the keys.
@Suite(
    "mailroom serve: the HTTP API with signed requests",
    .enabled(if: TestEnvironment.hasBroker && TestEnvironment.hasDatabase)
)
struct APIServerTests {
    /// Starts `mailroom serve --port 0` and waits for its `listening on` line.
    static func serve(
        _ stack: PipelineCommandTests.Stack,
        _ options: [String] = []
    ) async throws -> (RunningCLI, String) {
        let server = try RunningCLI(
            ["serve", "--port", "0"] + options + stack.topicArguments,
            environment: stack.environment
        )
        var url: String?
        _ = try await PipelineCommandTests.eventually(timeout: .seconds(30)) {
            if let line = server.output.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) {
                url = "http://" + line.dropFirst("listening on ".count)
            }
            return url != nil || !server.process.isRunning
        }
        return (server, try #require(url, "the server did not start: \(server.output)"))
    }

    /// A fresh stack with its topics (2 partitions) and `mailroom serve` running on it.
    static func servedStack(
        _ options: [String] = []
    ) async throws -> (PipelineCommandTests.Stack, RunningCLI, String) {
        let stack = try await PipelineCommandTests.stack()
        #expect(
            try CLI.run(
                ["topics", "create", "--partitions", "2"] + stack.topicArguments,
                environment: stack.environment
            ).status == 0
        )
        let (server, url) = try await serve(stack, options)
        return (stack, server, url)
    }

    static func api(_ url: String, _ key: String, _ arguments: [String]) throws -> CLI.Result {
        try DeviceKeysTests.python(["api", "--url", url, "--identity", key] + arguments)
    }

    static func object(_ text: String) -> [String: Any] { DeviceKeysTests.object(text) }

    @Test("Two devices: set up, send, list, open, mark read, delete; nobody reaches another key's mail")
    func devicesThroughTheAPI() async throws {
        let (stack, server, url) = try await Self.servedStack()
        func path(_ name: String) -> String { stack.folder.appendingPathComponent(name).path }
        defer { server.signal(SIGKILL) }

        var keys: [String: String] = [:]
        for name in ["alice", "bob"] {
            let keygen = try DeviceKeysTests.python(["keygen", "--out", path("\(name).key"), "--json"])
            keys[name] = Self.object(keygen.stdout)["public_key"] as? String
            // Setting up a mailbox needs a request signed by its key: the proof of possession.
            let setup = try Self.api(url, path("\(name).key"), ["setup"])
            #expect(setup.status == 0, "\(setup.stderr)")
            #expect(Self.object(setup.stdout)["owner"] as? String == keys[name])
        }
        let bob = try #require(keys["bob"])

        // Alice's device seals; the API submits once the broker has it.
        try Data("hello over http".utf8).write(to: URL(fileURLWithPath: path("body")))
        _ = try DeviceKeysTests.python([
            "seal", "--identity", path("alice.key"), "--to", bob, "--body-file", path("body"), "--out", path("a.env"),
        ])
        let submit = try Self.api(url, path("alice.key"), ["submit", path("a.env")])
        #expect(submit.status == 0, "\(submit.stderr)")
        let id = try #require(Self.object(submit.stdout)["id"] as? String)
        // Bob may not submit what alice signed; a forged copy is refused with its reason.
        let relayed = try Self.api(url, path("bob.key"), ["submit", path("a.env")])
        #expect(relayed.status == 1)
        #expect(relayed.stderr.contains("not_the_sender"), "\(relayed.stderr)")
        var forged = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path("a.env"))))
        forged[forged.count - 1] ^= 1
        try Data(forged).write(to: URL(fileURLWithPath: path("forged.env")))
        let refused = try Self.api(url, path("alice.key"), ["submit", path("forged.env")])
        #expect(refused.stderr.contains("bad_signature"), "\(refused.stderr)")

        let worker = try RunningCLI(["worker"] + stack.topicArguments, environment: stack.environment)
        defer { worker.signal(SIGKILL) }
        var records: [[String: Any]] = []
        #expect(
            try await PipelineCommandTests.eventually {
                let inbox = try Self.api(url, path("bob.key"), ["inbox", "--out-dir", path("records")])
                records = Self.object(inbox.stdout)["records"] as? [[String: Any]] ?? []
                return !records.isEmpty
            }
        )
        #expect(records.count == 1)
        #expect(records.first?["id"] as? String == id)
        // Bob's device verifies and opens the record the server served.
        let opened = try DeviceKeysTests.python(["open", path("records/\(id).json"), "--identity", path("bob.key")])
        #expect(opened.status == 0, "\(opened.stderr)")
        #expect(opened.stdout == "hello over http")

        // Alice sees it in her sentbox, not in her inbox, and cannot read or delete bob's copy.
        let sentbox = try Self.api(url, path("alice.key"), ["sentbox"])
        #expect((Self.object(sentbox.stdout)["records"] as? [[String: Any]])?.count == 1)
        let aliceInbox = try Self.api(url, path("alice.key"), ["inbox"])
        #expect((Self.object(aliceInbox.stdout)["records"] as? [[String: Any]])?.isEmpty == true)
        let trespass = try Self.api(url, path("alice.key"), ["read", id])
        #expect(trespass.status == 1)
        #expect(trespass.stderr.contains("message_not_found"))
        #expect(try Self.api(url, path("alice.key"), ["delete", id]).stderr.contains("message_not_found"))

        #expect(Self.object(try Self.api(url, path("bob.key"), ["unread"]).stdout)["unread"] as? Int == 1)
        let read = try Self.api(url, path("bob.key"), ["read", id])
        #expect(read.status == 0, "\(read.stderr)")
        #expect(
            ((Self.object(read.stdout)["record"] as? [String: Any])?["metadata"] as? [String: Any])?["read_at_ms"]
                is Int
        )
        #expect(Self.object(try Self.api(url, path("bob.key"), ["unread"]).stdout)["unread"] as? Int == 0)
        #expect(try Self.api(url, path("bob.key"), ["delete", id]).status == 0)
        let after = try Self.api(url, path("bob.key"), ["inbox"])
        #expect((Self.object(after.stdout)["records"] as? [[String: Any]])?.isEmpty == true)
        // Alice's sentbox copy is hers to keep or delete.
        #expect(
            (Self.object(try Self.api(url, path("alice.key"), ["sentbox"]).stdout)["records"] as? [[String: Any]])?
                .count == 1
        )

        // Requests that fail authentication change nothing and say why.
        let probe = """
            import json, sys, http.client, urllib.parse
            from mailroom_client.api import sign_request
            from mailroom_client.keys import Identity
            url = urllib.parse.urlsplit(sys.argv[1])
            me = Identity.from_textile_string(open(sys.argv[2]).read().strip())
            def send(method, target, body=b"", headers=None):
                c = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                c.request(method, target, body=body, headers=headers or {})
                r = c.getresponse()
                data = r.read()
                return r.status, (json.loads(data).get("error", {}).get("code") if data else None)
            out = {}
            out["missing"] = send("GET", "/v1/inbox")
            h = sign_request(me, "PUT", "/v1/mailbox")
            out["first"] = send("PUT", "/v1/mailbox", headers=h)
            out["replayed"] = send("PUT", "/v1/mailbox", headers=h)
            h = sign_request(me, "POST", "/v1/envelopes", b"abc")
            out["tampered_body"] = send("POST", "/v1/envelopes", b"abd", dict(h, **{"Content-Type": "application/octet-stream"}))
            h = sign_request(me, "GET", "/v1/inbox", timestamp_ms=1000)
            out["expired"] = send("GET", "/v1/inbox", headers=h)
            h = sign_request(me, "GET", "/v1/inbox?limit=50")
            out["other_target"] = send("GET", "/v1/inbox?limit=500", headers=h)
            h = sign_request(me, "GET", "/v1/inbox?limit=100000")
            out["page_too_large"] = send("GET", "/v1/inbox?limit=100000", headers=h)
            big = b"x" * (300 * 1024)
            h = sign_request(me, "POST", "/v1/envelopes", big)
            out["body_too_large"] = send("POST", "/v1/envelopes", big, dict(h, **{"Content-Type": "application/octet-stream"}))
            h = sign_request(me, "GET", "/v1/inbox")
            h["Mailroom-Signature"] = h["Mailroom-Signature"][:10]
            out["malformed"] = send("GET", "/v1/inbox", headers=h)
            print(json.dumps(out))
            """
        let result = try DeviceKeysTests.python(["-c", probe, url, path("bob.key")], pythonArguments: true)
        #expect(result.status == 0, "\(result.stderr)")
        let codes = Self.object(result.stdout).mapValues { ($0 as? [Any]).map { "\($0[0]) \($0[1])" } ?? "" }
        #expect(codes["missing"] == "401 missing_auth")
        #expect(codes["first"] == "200 <null>")
        #expect(codes["replayed"] == "401 replayed")
        #expect(codes["tampered_body"] == "401 bad_signature")
        #expect(codes["expired"] == "401 expired")
        #expect(codes["other_target"] == "401 bad_signature")
        #expect(codes["page_too_large"] == "400 invalid_limit")
        #expect(codes["body_too_large"] == "413 body_too_large")
        #expect(codes["malformed"] == "401 malformed_auth")

        // No key, signature, nonce or body in the server's log.
        let log = server.output
        #expect(!log.contains("hello over http"))
        server.signal(SIGTERM)
        #expect(try await server.exitStatus(within: .seconds(30)) == 0, "\(server.output)")
        worker.signal(SIGTERM)
        _ = try await worker.exitStatus(within: .seconds(30))
        try? FileManager.default.removeItem(at: stack.folder)
        try await stack.database.drop()
    }

    @Test("A batch envelope (v2) sealed by the Python client goes through POST /v1/envelopes, value by value")
    func batchThroughTheAPI() async throws {
        let (stack, server, url) = try await Self.servedStack()
        func path(_ name: String) -> String { stack.folder.appendingPathComponent(name).path }
        defer { server.signal(SIGKILL) }
        for name in ["alice", "bob"] {
            _ = try DeviceKeysTests.python(["keygen", "--out", path("\(name).key"), "--json"])
        }
        let script = """
            import json, sys
            from mailroom_client.api import ApiClient, ApiError
            from mailroom_client.batch import seal_shared, verify_sender_copy, verify_recipient_record
            from mailroom_client.keys import Identity
            alice = Identity.from_textile_string(open(sys.argv[2]).read().strip())
            bob = Identity.from_textile_string(open(sys.argv[3]).read().strip())
            recipients = [Identity.generate().public_key for _ in range(3)] + [bob.public_key]
            batch = seal_shared(alice, recipients, b"welcome over http")
            out = {}
            answers = ApiClient(sys.argv[1], alice).submit_batch(batch)
            out["ids"] = [a["id"] for a in answers]
            out["expected"] = [m.text for m in batch.message_ids] + [verify_sender_copy(batch.sender_copy).batch_id.text]
            def refused(client, value):
                try:
                    client.submit(value)
                    return None
                except ApiError as error:
                    return [error.status, error.code]
            out["relayed"] = refused(ApiClient(sys.argv[1], bob), batch.records[3])
            tampered = bytearray(batch.records[0]); tampered[-1] ^= 1
            out["payload"] = refused(ApiClient(sys.argv[1], alice), bytes(tampered))
            copy = bytearray(batch.sender_copy); copy[300] ^= 1
            out["copy"] = refused(ApiClient(sys.argv[1], alice), bytes(copy))
            print(json.dumps(out))
            """
        let result = try DeviceKeysTests.python(
            ["-c", script, url, path("alice.key"), path("bob.key")],
            pythonArguments: true
        )
        #expect(result.status == 0, "\(result.stderr)")
        let out = Self.object(result.stdout)
        let ids = try #require(out["ids"] as? [String])
        #expect(ids.count == 5)
        #expect(ids == out["expected"] as? [String])
        #expect(out["relayed"] as? [AnyHashable] == [403, "not_the_sender"])
        #expect(out["payload"] as? [AnyHashable] == [400, "payload_mismatch"])
        #expect(out["copy"] as? [AnyHashable] == [400, "payload_mismatch"])
        #expect(!server.output.contains("welcome over http"))
        server.signal(SIGTERM)
        #expect(try await server.exitStatus(within: .seconds(30)) == 0, "\(server.output)")
        try? FileManager.default.removeItem(at: stack.folder)
        try await stack.database.drop()
    }

    @Test(
        "Rate limits answer 429 with Retry-After per key and per address; CORS for listed origins only; /metrics counts routes"
    )
    func limitsCORSAndMetrics() async throws {
        let stack = try await PipelineCommandTests.stack()
        let probe = TestEnvironment.packageRoot.appendingPathComponent(
            "Tests/MailroomCLITests/Scripts/api_limits_probe.py"
        ).path

        // Per key: 2 per second, a burst of 4. The flooding key's fifth request at once is refused; another key is not.
        let (server, url) = try await Self.serve(stack, ["--key-rate", "2", "--cors-origin", "https://app.example"])
        defer { server.signal(SIGKILL) }
        let run = try DeviceKeysTests.python([probe, url, "8"], pythonArguments: true)
        #expect(run.status == 0, "\(run.stderr)")
        let result = Self.object(run.stdout)
        let statuses = result["statuses"] as? [Int] ?? []
        // 404 mailbox_not_found: the key is proven but has no mailbox; what matters is that it got past the limit.
        #expect(Array(statuses.prefix(4)) == [404, 404, 404, 404], "\(statuses)")
        #expect(statuses.dropFirst(4).contains(429), "\(statuses)")
        #expect((result["codes"] as? [String] ?? []).allSatisfy { $0 == "rate_limited" })
        #expect((result["retry_after"] as? [String] ?? []).allSatisfy { (Int($0) ?? 0) >= 1 })
        #expect(result["other_status"] as? Int == 404)
        let allowed = result["preflight_allowed"] as? [String: Any] ?? [:]
        #expect(allowed["status"] as? Int == 204)
        #expect(allowed["origin"] as? String == "https://app.example")
        #expect((allowed["headers"] as? String ?? "").contains("Mailroom-Signature"))
        let refused = result["preflight_refused"] as? [String: Any] ?? [:]
        #expect(refused["origin"] is NSNull || refused["origin"] == nil)
        #expect(result["simple_origin"] as? String == "https://app.example")
        #expect(result["metrics_status"] as? Int == 200)
        let metrics = result["metrics"] as? String ?? ""
        #expect(
            metrics.contains(#"mailroom_api_requests_total{route="/v1/mailbox",method="GET",status="429"}"#),
            "\(metrics)"
        )
        // Every answer is counted: the flooder's 404s (a token may have refilled meanwhile) and the other key's one.
        let answered = statuses.filter { $0 == 404 }.count + 1
        #expect(
            metrics.contains(
                #"mailroom_api_requests_total{route="/v1/mailbox",method="GET",status="404"} "# + "\(answered)\n"
            ),
            "\(metrics)"
        )
        #expect(metrics.contains(#"mailroom_api_request_duration_seconds_count{route="/v1/mailbox"} 9"#), "\(metrics)")
        #expect(!metrics.contains(#"mailroom_api_rate_limited_total{limit="key"} 0"#))
        server.signal(SIGTERM)
        #expect(try await server.exitStatus(within: .seconds(30)) == 0)

        // Per address: 1 per second, a burst of 2, counted before authentication (unsigned requests too).
        let (limited, limitedURL) = try await Self.serve(stack, ["--address-rate", "1"])
        defer { limited.signal(SIGKILL) }
        let flood = try DeviceKeysTests.python([probe, limitedURL, "4"], pythonArguments: true)
        #expect(flood.status == 0, "\(flood.stderr)")
        let floodStatuses = Self.object(flood.stdout)["statuses"] as? [Int] ?? []
        #expect(Array(floodStatuses.prefix(2)) == [404, 404], "\(floodStatuses)")
        #expect(floodStatuses.dropFirst(2).contains(429), "\(floodStatuses)")
        limited.signal(SIGTERM)
        #expect(try await limited.exitStatus(within: .seconds(30)) == 0)
        try await stack.database.drop()
    }

    @Test(
        "A shared batch end to end: 3 recipients list, verify and open their v2 records; one sentbox entry; read, delete, events"
    )
    func batchRecordsEndToEnd() async throws {
        let (stack, server, url) = try await Self.servedStack()
        defer { server.signal(SIGKILL) }
        let worker = try RunningCLI(["worker"] + stack.topicArguments, environment: stack.environment)
        defer { worker.signal(SIGKILL) }
        let script = TestEnvironment.packageRoot.appendingPathComponent(
            "Tests/MailroomCLITests/Scripts/api_batch_e2e.py"
        ).path
        let run = try DeviceKeysTests.python([script, url], pythonArguments: true)
        #expect(run.status == 0, "\(run.stderr)")
        let result = Self.object(run.stdout)
        let checks = result["checks"] as? [String: Bool] ?? [:]
        // Every check the script makes (api_batch_e2e.py), by name, so that a dropped check fails here too.
        let names = [
            "streams_ready", "submitted", "carol_page_mixes_v1_and_v2", "carol_opens_both_alike",
            "carol_v1_is_a_record",
            "sentbox_created_event", "sentbox_one_entry_per_batch", "sentbox_entry_id_kind",
            "sentbox_value_byte_for_byte",
            "sentbox_lists_the_recipients", "sentbox_opens_for_alice", "sentbox_not_for_bob", "alice_inbox_empty",
            "alice_cannot_read_bobs", "carol_cannot_delete_bobs", "bob_unread_before", "read_answer_is_v2",
            "read_record_still_opens", "bob_read_event", "bob_unread_after", "bob_listed_read_at",
            "bob_unread_page_empty", "bob_deleted_event", "bob_inbox_empty", "bob_delete_again_not_found",
            "dave_keeps_his", "dave_opens_after_bob_deleted", "sentbox_entry_stays", "sentbox_deleted_event",
            "sentbox_entry_gone", "carol_still_opens",
        ]
        let perRecipient = [
            "created_event", "one_batch_entry", "entry_id_kind", "value_byte_for_byte", "verifies_alone", "opens",
            "not_for_others",
        ]
        let expected = names + ["bob", "carol", "dave"].flatMap { name in perRecipient.map { "\(name)_\($0)" } }
        #expect(Set(checks.keys) == Set(expected), "\(run.stdout)")
        for name in expected.sorted() {
            #expect(checks[name] == true, "\(name): \(run.stdout)")
        }
        #expect(!server.output.contains("see you on Friday"))
        server.signal(SIGTERM)
        #expect(try await server.exitStatus(within: .seconds(30)) == 0, "\(server.output)")
        worker.signal(SIGTERM)
        #expect(try await worker.exitStatus(within: .seconds(30)) == 0)
        try? FileManager.default.removeItem(at: stack.folder)
        try await stack.database.drop()
    }

    @Test(
        "schemathesis against the live server: generated requests, signed, find no 5xx and no answer outside docs/openapi.yaml"
    )
    func schemathesisFindsNothing() async throws {
        // Limits high enough that generated traffic is judged on its content, not refused as a flood.
        let (stack, server, url) = try await Self.servedStack(["--key-rate", "100000", "--address-rate", "100000"])
        func path(_ name: String) -> String { stack.folder.appendingPathComponent(name).path }
        defer { server.signal(SIGKILL) }
        let worker = try RunningCLI(["worker"] + stack.topicArguments, environment: stack.environment)
        defer { worker.signal(SIGKILL) }
        let root = TestEnvironment.packageRoot
        let script = root.appendingPathComponent("Tests/MailroomCLITests/Scripts/api_schemathesis.py").path
        let document = root.appendingPathComponent("docs/openapi.yaml").path

        // 50 positive and 50 negative cases per operation, after seeding the key's inbox and sentbox with 5 messages.
        let run = try DeviceKeysTests.python([script, document, url, "50", "5"], pythonArguments: true)
        #expect(run.status == 0, "\(run.stderr)")
        let result = Self.object(run.stdout)
        let failures = result["failures"] as? [[String: Any]] ?? [["unreadable output": run.stdout]]
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        let byOperation = result["by_operation"] as? [String: Int] ?? [:]
        // Every operation but the two event streams (api_events_probe.py) was exercised, both ways.
        #expect(byOperation.count == 11, "\(byOperation)")
        #expect(byOperation["GET /v1/inbox"] == 100, "\(byOperation)")
        let statuses = result["statuses"] as? [String: Int] ?? [:]
        for status in ["200", "400", "401", "404"] { #expect(statuses[status, default: 0] > 0, "\(statuses)") }

        // The run can fail: against a document that promises another health answer, it reports the difference.
        let wrong = try String(contentsOfFile: document, encoding: .utf8)
            .replacingOccurrences(of: "status: {const: ok}", with: "status: {const: fine}")
        try wrong.write(toFile: path("wrong.yaml"), atomically: true, encoding: .utf8)
        let control = try DeviceKeysTests.python([script, path("wrong.yaml"), url, "1"], pythonArguments: true)
        let caught = Self.object(control.stdout)["failures"] as? [[String: Any]] ?? []
        #expect(caught.map { $0["operation"] as? String } == ["GET /healthz"], "\(control.stdout) \(control.stderr)")

        server.signal(SIGTERM)
        #expect(try await server.exitStatus(within: .seconds(30)) == 0, "\(server.output)")
        worker.signal(SIGTERM)
        _ = try await worker.exitStatus(within: .seconds(30))
        try? FileManager.default.removeItem(at: stack.folder)
        try await stack.database.drop()
    }

    @Test(
        "Event streams: created, read and deleted arrive; after a forced reconnect with Last-Event-ID none is lost; streams per key are bounded"
    )
    func eventsSurviveAReconnect() async throws {
        let (stack, server, url) = try await Self.servedStack()
        defer { server.signal(SIGKILL) }
        let worker = try RunningCLI(["worker"] + stack.topicArguments, environment: stack.environment)
        defer { worker.signal(SIGKILL) }
        let probe = TestEnvironment.packageRoot.appendingPathComponent(
            "Tests/MailroomCLITests/Scripts/api_events_probe.py"
        ).path
        let run = try DeviceKeysTests.python([probe, url], pythonArguments: true)
        #expect(run.status == 0, "\(run.stderr)")
        let result = Self.object(run.stdout)
        #expect((result["ready"] as? [String: Any])?["kind"] as? String == "ready", "\(run.stdout)")
        #expect(result["first_seen"] as? Bool == true, "\(run.stdout)")
        #expect(result["cursor"] as? String != nil)
        #expect((result["resumed_ready"] as? [String: Any])?["id"] as? String == result["cursor"] as? String)
        #expect(result["resumed_all"] as? Bool == true, "nothing lost across the reconnect: \(run.stdout)")
        #expect(result["deleted_seen"] as? Bool == true, "\(run.stdout)")
        #expect(result["fifth"] as? String == "429 too_many_streams", "\(run.stdout)")

        // SIGTERM with a stream open: the server ends the stream and exits 0; the client sees the end.
        let python = TestEnvironment.packageRoot.appendingPathComponent(".dev/venv/bin/python")
        let holder = try RunningCLI(
            [probe, url, "--hold"],
            environment: ["PYTHONPATH": TestEnvironment.packageRoot.appendingPathComponent("clients/python").path],
            executable: python
        )
        defer { holder.signal(SIGKILL) }
        #expect(
            try await PipelineCommandTests.eventually(timeout: .seconds(30)) { holder.output.contains("live ready") },
            "\(holder.output)"
        )
        server.signal(SIGTERM)
        #expect(try await server.exitStatus(within: .seconds(30)) == 0, "\(server.output)")
        #expect(try await holder.exitStatus(within: .seconds(30)) == 0, "\(holder.output)")
        #expect(holder.output.contains("ended"))
        worker.signal(SIGTERM)
        #expect(try await worker.exitStatus(within: .seconds(30)) == 0)
        try await stack.database.drop()
    }
}
